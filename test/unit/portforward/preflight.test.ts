import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:net";
import { UsageError } from "../../../lib/errors.ts";
import { createLogger } from "../../../lib/log.ts";
import { openTunnel } from "../../../lib/portforward/open.ts";
import {
  assertAddressUsable,
  assertPortsFree,
  assertSocketsUsable,
  clientForAddress,
  clientForSocket,
  isPortFree,
  probeListen,
} from "../../../lib/portforward/preflight.ts";
import type { PortForward, PortForwardOptions } from "../../../lib/session/index.ts";
import { HAS_IPV6_LOOPBACK } from "../../support/ipv6.ts";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function occupy(host: string): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen({ port: 0, host, ipv6Only: host === "::1" }, resolve));
  return (server.address() as { port: number }).port;
}

// 192.0.2.0/24 is TEST-NET-1; .254 is nobody's address on this machine.
const NOT_HERE = "192.0.2.254";

describe("preflight on the listen address", () => {
  it("finds a port busy on 127.0.0.1, and busy for 0.0.0.0 too", async () => {
    const port = await occupy("127.0.0.1");
    expect(await isPortFree(port)).toBe(false);
    expect(await probeListen(port, "0.0.0.0")).toBe("EADDRINUSE");
    await expect(assertPortsFree([{ port, flag: "--local-port" }], "0.0.0.0")).rejects.toThrow(
      new UsageError(`Local port ${port} is busy (another program listens on 0.0.0.0:${port}): pass --local-port with a free port, or 0 for any free port.`),
    );
    await expect(assertPortsFree([{ port: 0, flag: "--local-port" }], "0.0.0.0")).resolves.toBeUndefined();
  });

  it.skipIf(!HAS_IPV6_LOOPBACK)("for the default address, finds a port busy on [::1] too (clients resolving localhost to ::1 would go there)", async () => {
    const port = await occupy("::1");
    expect(await probeListen(port, "::1")).toBe("EADDRINUSE");
    await expect(assertPortsFree([{ port, flag: "--forward" }])).rejects.toThrow(
      new UsageError(
        `Local port ${port} is busy on [::1] (another program listens on [::1]:${port}, where clients that resolve localhost to ::1 would connect): pass --forward with a free port, or 0 for any free port.`,
      ),
    );
    // --address 127.0.0.2 listens there only; [::1] is not ours to hold.
    await expect(assertPortsFree([{ port, flag: "--forward" }], "127.0.0.2")).resolves.toBeUndefined();
  });

  it("takes our client for --socket: auto becomes native, plugin is refused (its own TCP port is open to every local user)", () => {
    expect((["auto", "native", "plugin"] as const).map((c) => clientForSocket(c, undefined))).toEqual(["auto", "native", "plugin"]);
    expect((["auto", "native"] as const).map((c) => clientForSocket(c, "/run/user/1000/db.sock"))).toEqual(["native", "native"]);
    expect(() => clientForSocket("plugin", "/run/user/1000/db.sock")).toThrow(
      new UsageError(
        "--socket needs --client native: session-manager-plugin listens on a TCP port of 127.0.0.1, which every local user can reach. Pass --client native, or leave --socket out.",
      ),
    );
  });

  it("refuses a --socket path that exists, as a usage error naming the flag", () => {
    expect(() => assertSocketsUsable([undefined, "/etc/hostname"])).toThrow(
      new UsageError("--socket /etc/hostname: /etc/hostname already exists: remove it, or choose another path for the socket."),
    );
    expect(() => assertSocketsUsable([undefined])).not.toThrow();
  });

  it("refuses an address that is not this machine's, naming the fix, instead of calling the port busy", async () => {
    const message = `--address ${NOT_HERE} is not an address of this machine: pass one of its addresses (ip -brief address), 0.0.0.0 for every interface, or leave --address out for 127.0.0.1.`;
    await expect(assertAddressUsable(NOT_HERE)).rejects.toThrow(new UsageError(message));
    await expect(assertPortsFree([{ port: 15432, flag: "--local-port" }], NOT_HERE)).rejects.toThrow(new UsageError(message));
    await expect(assertAddressUsable("0.0.0.0")).resolves.toBeUndefined();
    await expect(assertAddressUsable("127.0.0.1")).resolves.toBeUndefined();
  });

  it("keeps the client on 127.0.0.1; elsewhere auto becomes native and plugin is refused (it listens on localhost only)", () => {
    expect((["auto", "native", "plugin"] as const).map((c) => clientForAddress(c, "127.0.0.1"))).toEqual(["auto", "native", "plugin"]);
    expect((["auto", "native"] as const).map((c) => clientForAddress(c, "0.0.0.0"))).toEqual(["native", "native"]);
    expect(() => clientForAddress("plugin", "0.0.0.0")).toThrow(
      new UsageError(
        "--address 0.0.0.0 needs --client native: session-manager-plugin listens on 127.0.0.1 only. Pass --client native, or leave --address out.",
      ),
    );
    expect(() => clientForAddress("plugin", "::1")).toThrow(UsageError);
  });
});

describe("openTunnel", () => {
  const ready = { via: "ecs-exec" as const, target: "ecs:stg-main_t_t-1", deadline: Date.now() + 60_000 };
  const forwards = [{ localPort: 0, host: "db.internal", remotePort: 5432, label: "db.internal:5432", flag: "--local-port" }];

  async function optionsSeen(extra: { client: "auto" | "plugin"; address?: string }): Promise<PortForwardOptions> {
    let seen: PortForwardOptions | undefined;
    const start = async (options: PortForwardOptions): Promise<PortForward> => {
      seen = options;
      return {
        client: "native",
        ports: [15432],
        ready: Promise.resolve(),
        ended: new Promise(() => {}),
        sessions: () => [{ open: 1, max: 1 }],
        stop: async () => {},
      };
    };
    const opened = await openTunnel({
      clients: {} as never,
      region: "ap-northeast-1",
      ready,
      forwards,
      log: createLogger({ format: "human", write: () => {} }),
      start,
      ...extra,
    });
    for (const l of opened.listeners) l.close();
    return seen!;
  }

  it("listens on 127.0.0.1 by default and on --address when given, with a client that can", async () => {
    expect(await optionsSeen({ client: "auto" })).toMatchObject({
      bindAddress: "127.0.0.1",
      client: "auto",
      forwards: [{ localPort: 0, host: "db.internal", remotePort: 5432 }],
    });
    expect(await optionsSeen({ client: "auto", address: "0.0.0.0" })).toMatchObject({ bindAddress: "0.0.0.0", client: "native" });
    await expect(optionsSeen({ client: "plugin", address: "0.0.0.0" })).rejects.toThrow(UsageError);
  });

  it.skipIf(!HAS_IPV6_LOOPBACK)("hands the session its listeners, held on 127.0.0.1 and [::1] for the default address", async () => {
    const seen = await optionsSeen({ client: "auto" });
    expect(seen.listeners!.map((l) => l.addresses)).toEqual([["127.0.0.1", "::1"]]);
    expect((await optionsSeen({ client: "auto", address: "0.0.0.0" })).listeners!.map((l) => l.addresses)).toEqual([["0.0.0.0"]]);
  });

  it.skipIf(!HAS_IPV6_LOOPBACK)("refuses a fixed port someone holds on [::1], naming the flag", async () => {
    const port = await occupy("::1");
    const busy = [{ ...forwards[0], localPort: port }];
    await expect(
      openTunnel({
        clients: {} as never,
        region: "ap-northeast-1",
        client: "auto",
        ready,
        forwards: busy,
        log: createLogger({ format: "human", write: () => {} }),
        start: async () => {
          throw new Error("no session may start");
        },
      }),
    ).rejects.toThrow(
      `Local port ${port} is busy on [::1] (EADDRINUSE): another program listens there. Pass --local-port with a free port, or 0 for any free port.`,
    );
  });
});

// The local side of a forward: the default address holds the port on 127.0.0.1 and [::1], refuses a
// port someone holds on [::1], and keeps connections waiting while no session is attached.
import { afterEach, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listenLocal, listenLocalSocket, PortBusyError, type LocalListener } from "../../../lib/session/listeners.ts";
import { HAS_IPV6_LOOPBACK } from "../../support/ipv6.ts";

const open: Array<LocalListener | Server> = [];
afterEach(() => {
  for (const x of open.splice(0)) x.close();
});

async function occupy(host: string, port = 0): Promise<number> {
  const server = createServer();
  open.push(server);
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen({ port, host, ipv6Only: host === "::1" }, resolve));
  return (server.address() as { port: number }).port;
}

/** Connects, sends `text`, resolves with what came back once the far end ends. */
function roundTrip(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host, () => socket.end(text));
    let got = "";
    socket
      .on("data", (d) => (got += d))
      .on("end", () => resolve(got))
      .on("error", reject);
  });
}

const echo = (tag: string) => (socket: Socket) => {
  socket.resume();
  let got = "";
  socket.on("data", (d) => (got += d)).on("end", () => socket.end(`${tag}:${got}`));
};

describe("listenLocal", () => {
  it.skipIf(!HAS_IPV6_LOOPBACK)("holds a free port on 127.0.0.1 and [::1], both leading to the same handler", async () => {
    const listener = await listenLocal(0);
    open.push(listener);
    expect(listener.addresses).toEqual(["127.0.0.1", "::1"]);
    listener.attach(echo("one"));
    expect(await roundTrip("127.0.0.1", listener.port, "a")).toBe("one:a");
    expect(await roundTrip("::1", listener.port, "b")).toBe("one:b");
    await expect(occupy("::1", listener.port)).rejects.toMatchObject({ code: "EADDRINUSE" });
  });

  it.skipIf(!HAS_IPV6_LOOPBACK)("refuses a port someone listens on at [::1], and leaves 127.0.0.1 free", async () => {
    const port = await occupy("::1");
    const error = await listenLocal(port).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortBusyError);
    expect((error as PortBusyError).message).toBe(`Local port ${port} is busy on [::1] (EADDRINUSE)`);
    expect(await occupy("127.0.0.1", port)).toBe(port);
  });

  it("refuses a port busy on 127.0.0.1, and listens only where told with another address", async () => {
    const port = await occupy("127.0.0.1");
    await expect(listenLocal(port)).rejects.toThrow(`Local port ${port} is busy on 127.0.0.1 (EADDRINUSE)`);
    const only = await listenLocal(0, "127.0.0.2");
    open.push(only);
    expect(only.addresses).toEqual(["127.0.0.2"]);
  });

  it.skipIf(!HAS_IPV6_LOOPBACK)("keeps connections waiting while detached and hands them, in order, to the next handler; close drops them", async () => {
    const listener = await listenLocal(0);
    open.push(listener);
    listener.attach(echo("first"));
    expect(await roundTrip("127.0.0.1", listener.port, "x")).toBe("first:x");
    listener.detach();
    const waiting = [roundTrip("127.0.0.1", listener.port, "1"), roundTrip("::1", listener.port, "2")];
    await new Promise((r) => setTimeout(r, 200));
    expect(listener.waiting).toBe(2);
    listener.attach(echo("second"));
    expect(await Promise.all(waiting)).toEqual(["second:1", "second:2"]);
    listener.detach();
    const dropped = roundTrip("127.0.0.1", listener.port, "3").catch((e: Error) => `error ${(e as NodeJS.ErrnoException).code}`);
    await new Promise((r) => setTimeout(r, 200));
    listener.close();
    expect(await dropped).toMatch(/^(|error ECONNRESET)$/);
  });
});

describe("listenLocalSocket", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const socketRoundTrip = (path: string, text: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(path, () => socket.end(text));
      let got = "";
      socket
        .on("data", (d) => (got += d))
        .on("end", () => resolve(got))
        .on("error", reject);
    });

  it("listens on a socket of mode 0600 even under umask 0000, relays to the handler, and removes it on close", async () => {
    dir = mkdtempSync(join(tmpdir(), "sock-"));
    const path = join(dir, "db.sock");
    const umask = process.umask(0);
    let listener: LocalListener;
    try {
      listener = await listenLocalSocket(path);
    } finally {
      process.umask(umask);
    }
    expect(process.umask()).toBe(umask);
    expect([listener.port, listener.path, listener.addresses]).toEqual([0, path, [path]]);
    const st = statSync(path);
    expect([st.isSocket(), (st.mode & 0o777).toString(8)]).toEqual([true, "600"]);
    listener.attach(echo("sock"));
    expect(await socketRoundTrip(path, "hi")).toBe("sock:hi");
    listener.close();
    expect(existsSync(path)).toBe(false);
  });

  it("never takes over an existing path, nor a directory other users may write to", async () => {
    dir = mkdtempSync(join(tmpdir(), "sock-"));
    const taken = join(dir, "taken");
    writeFileSync(taken, "keep me");
    await expect(listenLocalSocket(taken)).rejects.toThrow(`${taken} already exists: remove it, or choose another path for the socket.`);
    chmodSync(dir, 0o777);
    await expect(listenLocalSocket(join(dir, "db.sock"))).rejects.toThrow(
      `The directory ${dir} lets other users replace the socket: use a directory of yours that only you can write to (mode 0700), such as $XDG_RUNTIME_DIR.`,
    );
    chmodSync(dir, 0o1777); // sticky, like /tmp: nobody else can rename or remove what is ours
    const listener = await listenLocalSocket(join(dir, "db.sock"));
    listener.close();
    await expect(listenLocalSocket(join(dir, "missing", "db.sock"))).rejects.toThrow(
      `The directory ${join(dir, "missing")} of the socket does not exist: create it (mode 0700), or choose another path.`,
    );
  });
});

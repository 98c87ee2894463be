// The local side of a forward: the default address holds the port on 127.0.0.1 and [::1], refuses a
// port someone holds on [::1], and keeps connections waiting while no session is attached.
import { afterEach, describe, expect, it } from "vitest";
import { connect, createServer, type Server, type Socket } from "node:net";
import { listenLocal, PortBusyError, type LocalListener } from "../../../lib/session/listeners.ts";

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
    socket.on("data", (d) => (got += d)).on("end", () => resolve(got)).on("error", reject);
  });
}

const echo = (tag: string) => (socket: Socket) => {
  socket.resume();
  let got = "";
  socket.on("data", (d) => (got += d)).on("end", () => socket.end(`${tag}:${got}`));
};

describe("listenLocal", () => {
  it("holds a free port on 127.0.0.1 and [::1], both leading to the same handler", async () => {
    const listener = await listenLocal(0);
    open.push(listener);
    expect(listener.addresses).toEqual(["127.0.0.1", "::1"]);
    listener.attach(echo("one"));
    expect(await roundTrip("127.0.0.1", listener.port, "a")).toBe("one:a");
    expect(await roundTrip("::1", listener.port, "b")).toBe("one:b");
    await expect(occupy("::1", listener.port)).rejects.toMatchObject({ code: "EADDRINUSE" });
  });

  it("refuses a port someone listens on at [::1], and leaves 127.0.0.1 free", async () => {
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

  it("keeps connections waiting while detached and hands them, in order, to the next handler; close drops them", async () => {
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

// Checks on this machine before anything is launched (and paid for): the listen address is one of
// this machine's, the local ports are free there (and on [::1] for the default address) and, with --client plugin, session-manager-plugin
// is installed, new enough, and asked for nothing it cannot do.
import { createServer } from "node:net";
import { UsageError } from "../errors.ts";
import { assertPluginVersion, getPluginVersion } from "../session/plugin.ts";
import { assertSocketPathUsable } from "../session/listeners.ts";
import type { ClientChoice } from "../session/index.ts";
import { DEFAULT_ADDRESS } from "./forwards.ts";

/** Listens on the port for a moment; undefined when it could, else the error code (EADDRINUSE, EADDRNOTAVAIL, EACCES…). */
export function probeListen(port: number, host: string = DEFAULT_ADDRESS): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ port, host, exclusive: true, ipv6Only: host === "::1" }, () => server.close(() => resolve(undefined)));
  });
}

/** False when another program holds the port (or it cannot be opened at all). */
export async function isPortFree(port: number, host: string = DEFAULT_ADDRESS): Promise<boolean> {
  return (await probeListen(port, host)) === undefined;
}

/** --address must be an address of this machine (or 0.0.0.0 / ::). */
export async function assertAddressUsable(address: string): Promise<void> {
  if ((await probeListen(0, address)) === "EADDRNOTAVAIL") {
    throw new UsageError(
      `--address ${address} is not an address of this machine: pass one of its addresses (ip -brief address), 0.0.0.0 for every interface, or leave --address out for 127.0.0.1.`,
    );
  }
}

/** Each fixed local port must be free; the error names the flag that chose it. */
export async function assertPortsFree(ports: Array<{ port: number; flag: string }>, host: string = DEFAULT_ADDRESS): Promise<void> {
  for (const { port, flag } of ports) {
    if (port === 0) continue;
    const code = await probeListen(port, host);
    if (code === undefined) continue;
    if (code === "EACCES")
      throw new UsageError(`Local port ${port} needs privileges to listen on ${host}: pass ${flag} with a port above 1023, or 0 for any free port.`);
    if (code === "EADDRNOTAVAIL") await assertAddressUsable(host);
    throw new UsageError(`Local port ${port} is busy (another program listens on ${host}:${port}): pass ${flag} with a free port, or 0 for any free port.`);
  }
  if (host === DEFAULT_ADDRESS) await assertFreeOnIpv6Loopback(ports);
}

/**
 * The default address holds [::1] too (lib/session/listeners.ts): whoever listens there would get
 * the clients that resolve localhost to ::1, so such a port is refused. No IPv6 loopback: nothing to hold.
 */
async function assertFreeOnIpv6Loopback(ports: Array<{ port: number; flag: string }>): Promise<void> {
  for (const { port, flag } of ports) {
    if (port === 0) continue;
    const code = await probeListen(port, "::1");
    if (code === undefined || code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT") continue;
    throw new UsageError(
      `Local port ${port} is busy on [::1] (another program listens on [::1]:${port}, where clients that resolve localhost to ::1 would connect): pass ${flag} with a free port, or 0 for any free port.`,
    );
  }
}

/** Each --socket path is free and in a directory nobody else can write to. */
export function assertSocketsUsable(paths: Array<string | undefined>): void {
  for (const path of paths) {
    if (path === undefined) continue;
    try {
      assertSocketPathUsable(path);
    } catch (error) {
      throw new UsageError(`--socket ${path}: ${(error as Error).message}`);
    }
  }
}

/**
 * The client that can listen on `address`. session-manager-plugin always listens on localhost
 * (net.Listen("tcp", "localhost:"+port) in its portsession), so another address needs ours:
 * auto picks it, an explicit plugin is refused.
 */
export function clientForAddress(client: ClientChoice, address: string): ClientChoice {
  if (address === DEFAULT_ADDRESS) return client;
  if (client === "plugin") {
    throw new UsageError(
      `--address ${address} needs --client native: session-manager-plugin listens on 127.0.0.1 only. Pass --client native, or leave --address out.`,
    );
  }
  return "native";
}

/**
 * The client for a --socket forward: ours. Behind a socket the plugin would still listen on a TCP
 * port of 127.0.0.1 that every local user can reach, which is what --socket is there to avoid.
 */
export function clientForSocket(client: ClientChoice, socket: string | undefined): ClientChoice {
  if (socket === undefined) return client;
  if (client === "plugin") {
    throw new UsageError(
      "--socket needs --client native: session-manager-plugin listens on a TCP port of 127.0.0.1, which every local user can reach. Pass --client native, or leave --socket out.",
    );
  }
  return "native";
}

/** --client plugin: the plugin must be there before a task is launched for it. */
export async function assertClientAvailable(client: ClientChoice, pluginPath?: string): Promise<void> {
  if (client !== "plugin") return;
  assertPluginVersion(await getPluginVersion(pluginPath), pluginPath);
}

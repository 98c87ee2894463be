// Checks on this machine before anything is launched (and paid for): the local ports are free and,
// with --client plugin, session-manager-plugin is installed and new enough.
import { createServer } from "node:net";
import { UsageError } from "../cli.ts";
import { assertPluginVersion, getPluginVersion } from "../plugin.ts";
import type { ClientChoice } from "../session/index.ts";

export const BIND_ADDRESS = "127.0.0.1";

/** Listens on the port for a moment; false when another program holds it. */
export function isPortFree(port: number, host: string = BIND_ADDRESS): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Each fixed local port must be free; the error names the flag that chose it. */
export async function assertPortsFree(ports: Array<{ port: number; flag: string }>, host: string = BIND_ADDRESS): Promise<void> {
  for (const { port, flag } of ports) {
    if (port !== 0 && !(await isPortFree(port, host))) {
      throw new UsageError(`Local port ${port} is busy (another program listens on ${host}:${port}): pass ${flag} with a free port, or 0 for any free port.`);
    }
  }
}

/** --client plugin: the plugin must be there before a task is launched for it. */
export async function assertClientAvailable(client: ClientChoice, pluginPath?: string): Promise<void> {
  if (client !== "plugin") return;
  assertPluginVersion(await getPluginVersion(pluginPath), pluginPath);
}

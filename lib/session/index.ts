// One interface over both clients: the native implementation of the protocol (this folder) and
// AWS's session-manager-plugin (lib/plugin.ts). "auto" uses the plugin when it is installed.
import { compareVersions, getPluginVersion, MIN_PLUGIN_VERSION, PluginNotInstalledError } from "../plugin.ts";
import { startNativePortForward } from "./port.ts";
import { startNativeShell } from "./shell.ts";
import { startPluginPortForward, startPluginShell } from "./via-plugin.ts";
import type { ClientChoice, PortForward, PortForwardOptions, Shell, ShellOptions } from "./types.ts";

export type { ClientChoice, Forward, PortForward, PortForwardOptions, Shell, ShellOptions, ShellVia } from "./types.ts";
export { CLIENT_VERSION } from "./channel.ts";

export async function resolveClient(choice: ClientChoice | undefined, pluginPath?: string): Promise<"native" | "plugin"> {
  if (choice === "native" || choice === "plugin") return choice;
  try {
    return compareVersions(await getPluginVersion(pluginPath), MIN_PLUGIN_VERSION) >= 0 ? "plugin" : "native";
  } catch (error) {
    if (error instanceof PluginNotInstalledError) return "native";
    throw error;
  }
}

/** Opens every forward (one session each); `ports` are known on return, `ready` when all are usable. */
export async function startPortForward(options: PortForwardOptions): Promise<PortForward> {
  if (options.forwards.length === 0) throw new Error("startPortForward needs at least one forward.");
  const client = await resolveClient(options.client, options.pluginPath);
  options.log?.debug(`port forwarding with the ${client} client`);
  return client === "plugin" ? startPluginPortForward(options) : startNativePortForward(options);
}

/** An interactive shell on the target; `exit` resolves with the exit code when the session ends. */
export async function startShell(options: ShellOptions): Promise<Shell> {
  const client = await resolveClient(options.client, options.pluginPath);
  options.log?.debug(`shell with the ${client} client`);
  return client === "plugin" ? startPluginShell(options) : startNativeShell(options);
}

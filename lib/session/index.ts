// One interface over both clients: the native implementation of the protocol (this folder) and
// AWS's session-manager-plugin (plugin.ts). "auto" uses the plugin for shells when it is installed,
// and the native client for port forwards (resolveTunnelClient says why).
import { getPluginVersion, PluginNotInstalledError } from "./plugin.ts";
import { startNativePortForward } from "./port.ts";
import { startNativeShell } from "./shell.ts";
import { startPluginPortForward, startPluginShell } from "./via-plugin.ts";
import { isSupportedPlugin } from "./versions.ts";
import type { ClientChoice, PortForward, PortForwardOptions, Shell, ShellOptions } from "./types.ts";

export type { ClientChoice, Forward, PortForward, PortForwardOptions, Shell, ShellOptions, ShellVia } from "./types.ts";
export { CLIENT_VERSION } from "./versions.ts";

export async function resolveClient(choice: ClientChoice | undefined, pluginPath?: string): Promise<"native" | "plugin"> {
  if (choice === "native" || choice === "plugin") return choice;
  try {
    return isSupportedPlugin(await getPluginVersion(pluginPath)) ? "plugin" : "native";
  } catch (error) {
    if (error instanceof PluginNotInstalledError) return "native";
    throw error;
  }
}

/**
 * Why "auto" keeps tunnels off the plugin: when a send meets a WebSocket close (AWS recycles the
 * channel every hour), the plugin's SendInputDataMessage returns before buffering the message
 * (session-manager-plugin streaming.go:314-317, buffered only at 325-326) and transferDataToServer
 * returns on that error (muxportforwarding.go:218-221), so nothing reads the tunnel's connections any
 * more while the process lives on: the tunnel hangs and is never reopened. The native client resends.
 */
export const PLUGIN_TUNNEL_NOTE =
  "Tunnel through the built-in Session Manager client, not session-manager-plugin: the plugin's tunnels stop carrying data for good when a send meets one of AWS's hourly WebSocket recycles, while the plugin keeps running. Pass --client plugin to use it anyway.";

/** The client for a port forward, and what to tell the user when "auto" passed over an installed plugin. */
export async function resolveTunnelClient(choice: ClientChoice | undefined, pluginPath?: string): Promise<{ client: "native" | "plugin"; note?: string }> {
  if (choice === "native" || choice === "plugin") return { client: choice };
  return (await resolveClient("auto", pluginPath)) === "plugin" ? { client: "native", note: PLUGIN_TUNNEL_NOTE } : { client: "native" };
}

/** Opens every forward (one session each); `ports` are known on return, `ready` when all are usable. */
export async function startPortForward(options: PortForwardOptions): Promise<PortForward> {
  if (options.forwards.length === 0) throw new Error("startPortForward needs at least one forward.");
  const client = options.client === "plugin" ? "plugin" : "native";
  options.log?.debug(`port forwarding with the ${client} client`);
  return client === "plugin" ? startPluginPortForward(options) : startNativePortForward(options);
}

/** An interactive shell on the target; `exit` resolves with the exit code when the session ends. */
export async function startShell(options: ShellOptions): Promise<Shell> {
  const client = await resolveClient(options.client, options.pluginPath);
  options.log?.debug(`shell with the ${client} client`);
  return client === "plugin" ? startPluginShell(options) : startNativeShell(options);
}

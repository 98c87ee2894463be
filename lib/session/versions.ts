// Every agent and plugin version this client decides on, named once: what we report, what we
// launch, and how an agent of a given version behaves (each gate says where upstream draws it).

// Version comparison as the plugin does it: numeric, component by component (missing = 0).
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** Reported to the agent: > 1.2.331.0 so it disables smux keepalive, as a current plugin would. */
export const CLIENT_VERSION = "1.2.764.0";

/** The oldest plugin we launch: it signs the WebSocket upgrade and fixes the IMDS stall (1.2.694.0) and later resume bugs. */
export const MIN_PLUGIN_VERSION = "1.2.764.0";
/** awscli LAST_PLUGIN_VERSION_WITHOUT_ENV_VAR: newer plugins read the response from the environment. */
export const LAST_VERSION_WITHOUT_ENV_VAR = "1.2.497.0";
/** Agents newer than this end a port session on the TerminateSession flag; older ones need the API. */
export const LAST_AGENT_WITHOUT_TERMINATE_FLAG = "2.3.722.0";
/** Agents up to this one have no smux port forwarding at all, only basic. */
export const LAST_AGENT_WITHOUT_MUX = "3.0.196.0";
/** The plugin keeps smux keepalive for agents up to this one (src/version/versionvalidator.go). */
export const LAST_AGENT_WITH_KEEPALIVE = "3.1.1511.0";

export function isSupportedPlugin(pluginVersion: string): boolean {
  return compareVersions(pluginVersion, MIN_PLUGIN_VERSION) >= 0;
}

export function readsResponseFromEnv(pluginVersion: string): boolean {
  return compareVersions(pluginVersion, LAST_VERSION_WITHOUT_ENV_VAR) > 0;
}

export function endsOnTerminateFlag(agentVersion: string): boolean {
  return compareVersions(agentVersion, LAST_AGENT_WITHOUT_TERMINATE_FLAG) > 0;
}

export function hasMux(agentVersion: string): boolean {
  return compareVersions(agentVersion, LAST_AGENT_WITHOUT_MUX) > 0;
}

export function keepsSmuxKeepAlive(agentVersion: string): boolean {
  return compareVersions(agentVersion, LAST_AGENT_WITH_KEEPALIVE) <= 0;
}

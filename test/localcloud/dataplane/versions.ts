// How the agent decides between smux ("mux") and basic port forwarding and whether smux keepalive
// stays on: docs/session-protocol.md §4.2 (amazon-ssm-agent agent/session/plugins/port: mux
// iff type=="LocalPortForwarding" and ClientVersion ≥ 1.1.70; keepalive off iff ClientVersion >
// 1.2.331.0). An agent up to 3.0.196.0 has no mux at all, and one up to 3.1.1511.0 keeps keepalive
// on (the plugin's view of those agents, src/version/versionvalidator.go), so an emulated old
// agent forwards in basic mode whatever the client's version.

export const MUX_MIN_CLIENT_VERSION = "1.1.70";
export const KEEPALIVE_OFF_AFTER_CLIENT_VERSION = "1.2.331.0";
export const LAST_AGENT_WITHOUT_MUX = "3.0.196.0";
export const LAST_AGENT_WITH_KEEPALIVE = "3.1.1511.0";
export const LOCAL_PORT_FORWARDING = "LocalPortForwarding";

/** Numeric, component by component; a missing component counts as 0 (agent versionutil.Compare). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split(".").map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

export function planPortMode(type: string | undefined, clientVersion: string, agentVersion: string): { mode: "mux" | "basic"; keepAlive: boolean } {
  const mux =
    type === LOCAL_PORT_FORWARDING && compareVersions(clientVersion, MUX_MIN_CLIENT_VERSION) >= 0 && compareVersions(agentVersion, LAST_AGENT_WITHOUT_MUX) > 0;
  const keepAlive = compareVersions(clientVersion, KEEPALIVE_OFF_AFTER_CLIENT_VERSION) <= 0 || compareVersions(agentVersion, LAST_AGENT_WITH_KEEPALIVE) <= 0;
  return { mode: mux ? "mux" : "basic", keepAlive: mux && keepAlive };
}

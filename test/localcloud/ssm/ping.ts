// A managed instance's PingStatus, read by DescribeInstanceInformation, StartSession and the inventory.
import type { CloudContext } from "../context.ts";
import type { ManagedInstance } from "../state.ts";

/**
 * Online while heartbeats keep coming, ConnectionLost once the last one is older than
 * connectionLostAfterMs. AWS does not document the delay (its agent pings every 5 min).
 */
export function pingStatus(ctx: CloudContext, mi: ManagedInstance): "Online" | "ConnectionLost" {
  if (mi.pingRefused) return "ConnectionLost";
  return ctx.clock.now() - mi.lastPingMs > ctx.options.connectionLostAfterMs ? "ConnectionLost" : "Online";
}

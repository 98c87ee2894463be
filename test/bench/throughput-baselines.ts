// The rest of the throughput picture: the physical ceiling (the same transfers over direct loopback
// TCP to the same sink/source) and the native client against an emulator that paces like the real
// agent (1 KiB + 1 ms per message), upstream and downstream. Median and spread of ≥5 runs.
import { startNativePortForward } from "../../lib/session/port.ts";
import { startNativeHarness, startTargetServer } from "../unit/session/native-harness.ts";
import { receiveDown, sendUp } from "../unit/session/client.ts";

const MiB = 1024 * 1024;
const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

async function timed(run: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await run();
  return performance.now() - t;
}

export interface BaselineRuns {
  directUp: number[];
  directDown: number[];
  agentPacedUp: number[];
  agentPacedDown: number[];
}

export async function runThroughputBaselines({ quick }: { quick: boolean }): Promise<BaselineRuns> {
  const runs = 5;
  const size = (quick ? 16 : 64) * MiB;
  const pacedSize = (quick ? 1 : 2) * MiB;
  const target = await startTargetServer();
  const h = await startNativeHarness({ faults: { agentPacing: true } });
  const forward = await startNativePortForward({ clients: h.clients, region: "eu-west-1", target: "mi-0123456789abcdef0", forwards: [{ localPort: 0, host: "127.0.0.1", remotePort: target.port }] });
  try {
    await forward.ready;
    const out: BaselineRuns = { directUp: [], directDown: [], agentPacedUp: [], agentPacedDown: [] };
    for (let i = 0; i < runs; i++) {
      out.directUp.push(mbps(size, await timed(() => sendUp(target.port, 21, size))));
      out.directDown.push(mbps(size, await timed(() => receiveDown(target.port, 22, size))));
      out.agentPacedUp.push(mbps(pacedSize, await timed(() => sendUp(forward.ports[0], 23, pacedSize))));
      out.agentPacedDown.push(mbps(pacedSize, await timed(() => receiveDown(forward.ports[0], 24, pacedSize))));
    }
    return out;
  } finally {
    await forward.stop();
    await h.close();
    await target.close();
  }
}

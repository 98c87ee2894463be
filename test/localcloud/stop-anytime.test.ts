// "Stops everything" holds at any moment: a demo cloud stopped while its app tasks are PROVISIONING,
// PENDING, just RUNNING or running leaves no process behind — none already started, and none a
// lifecycle timer would have started after the stop.
import { readdirSync, readlinkSync } from "node:fs";
import { expect, it } from "vitest";
import { startLocalCloud } from "./index.ts";

const PROVISIONING_MS = 300;
const PENDING_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Processes whose working directory is under `dir` (a simulated container runs in its task's directory). */
function processesUnder(dir: string): string[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const cwd = readlinkSync(`/proc/${d}/cwd`);
        return cwd.startsWith(dir) ? [`${d} in ${cwd}`] : [];
      } catch {
        return [];
      }
    });
}

it("a demo cloud stopped at any moment of its tasks' start leaves no container process", async () => {
  const left: string[] = [];
  // From the admin API's first answer to past RUNNING: PROVISIONING, PENDING, the start, running.
  for (const afterMs of [0, 250, 450, 800]) {
    const cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: PROVISIONING_MS, pendingMs: PENDING_MS } });
    const answered = Date.now();
    await sleep(afterMs);
    const statuses = (await cloud.state()).tasks.map((t) => t.lastStatus).join(",");
    await cloud.stop();
    // Past the moment every lifecycle timer of the world was due: a timer left armed has fired by then.
    await sleep(Math.max(0, answered + PROVISIONING_MS + PENDING_MS + 200 - Date.now()));
    const running = processesUnder(cloud.tmpDir);
    if (running.length) left.push(`stopped ${afterMs} ms after the admin API answered (tasks ${statuses}): ${running.join("; ")}`);
  }
  expect(left).toEqual([]);
}, 300_000);

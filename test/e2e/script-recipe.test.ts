// The script recipe of docs/portforward.md, run as written: it starts portforward with exec (its PID is the
// program's), reads the ready line, queries through the tunnel, SIGTERMs that PID and waits. The
// tunnel is closed afterwards and GET /_localcloud/state shows nothing left.
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { run } from "../support/run.ts";
import { watchDenials } from "../support/iam.ts";
import { NOTHING_LEFT, REPO, leftovers, stateHome } from "./portforward-harness.ts";

let cloud: LocalCloud;
const state = stateHome();

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 200, pendingMs: 200 }, stopTimeoutMs: 10_000 });
}, 120_000);

// The recipe's portforward runs as the operator, holding exactly docker/iam/operator.json: a refused call fails the test.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  await cloud?.stop();
  state.remove();
});

function recipe(): string {
  const manual = readFileSync(join(REPO, "docs/portforward.md"), "utf8");
  const block = /```sh\n(#!\/bin\/bash\n[\s\S]*?coproc TUNNEL[\s\S]*?)```/.exec(manual);
  if (!block) throw new Error("docs/portforward.md has no script recipe (a ```sh block with coproc TUNNEL)");
  return block[1];
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => (socket.destroy(), resolve(false)));
    socket.once("error", () => resolve(true));
  });

it("the script recipe: the query runs, SIGTERM to the PID closes the tunnel, nothing is left", async () => {
  const script = join(state.dir, "recipe.sh");
  // Where the tunnel listened, for the check afterwards: the script's own line plus one echo.
  writeFileSync(script, recipe().replace(/^(port=.*)$/m, '$1\necho "port $port"'), { mode: 0o755 });
  const out = await run("bash", [script], {
    cwd: REPO,
    env: { ...cloud.env, ...cloud.principalEnv("operator"), XDG_STATE_HOME: state.dir, USER: "recipe", PGCONNECT_TIMEOUT: "10" },
  });
  expect(out.stderr).toContain("Stopped bastion task");
  expect(out.code).toBe(0);
  expect(out.stdout).toMatch(/^port \d+\n ?\?column\? \n-+\n +1\n\(1 row\)\n/);
  expect(await refused(Number(/^port (\d+)$/m.exec(out.stdout)![1]))).toBe(true);
  expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
}, 120_000);

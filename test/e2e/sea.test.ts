// For people without Node: `make sea` builds dist/bastionless with Node's single executable
// applications (Node 20: node --experimental-sea-config, then postject). It runs with nothing on PATH —
// no node, no npm — from a directory outside the repository: --help, --version, and a tunnel to stg-db.
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { topUsage } from "../../lib/bastionless/commands.ts";
import pkg from "../../package.json" with { type: "json" };
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { REPO, run } from "../support/run.ts";
import { watchDenials } from "../support/iam.ts";
import { TUNNEL_ARGS, expectTunnel } from "./package-harness.ts";
import { seededRows } from "./portforward-harness.ts";

const SEA = join(REPO, "dist/bastionless");
let cloud: LocalCloud;
let rows: string;
let team: string;
let state: string;
/** An empty PATH: the executable must need nothing from it. */
let emptyPath: string;

beforeAll(async () => {
  const started = startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 300, pendingMs: 300 }, stopTimeoutMs: 10_000 });
  // -o: never npm ci under the other tests' feet; `make test` has installed node_modules already.
  const built = await run("make", ["-o", "node_modules/.package-lock.json", "sea"], { timeoutMs: 180_000 });
  cloud = await started;
  if (built.code !== 0) throw new Error(`make sea failed (${built.code}): ${built.stderr}`);
  rows = await seededRows(cloud);
  team = mkdtempSync(join(tmpdir(), "bl-sea-team-"));
  state = mkdtempSync(join(tmpdir(), "bl-sea-state-"));
  emptyPath = mkdtempSync(join(tmpdir(), "bl-sea-path-"));
  writeFileSync(join(team, "bastionless.config.json"), JSON.stringify({ envs: { stg: { cluster: "stg-main" } } }));
}, 240_000);
afterAll(async () => {
  await cloud?.stop();
  for (const dir of [team, state, emptyPath]) if (dir) rmSync(dir, { recursive: true, force: true });
});

// The tunnel runs as the operator, holding exactly docker/iam/operator.json: a refused call fails the test.
afterEach(watchDenials(() => cloud));

const env = () => ({
  ...cloud.env,
  ...cloud.principalEnv("operator"),
  PATH: emptyPath,
  XDG_STATE_HOME: state,
  NODE_OPTIONS: undefined,
  BASTIONLESS_CONFIG: undefined,
});

describe("the single executable (make sea)", () => {
  it("is one executable file that answers --version and --help with an empty PATH", async () => {
    expect(statSync(SEA).mode & 0o111).toBe(0o111);
    expect(await run(SEA, ["--version"], { cwd: team, env: env() })).toEqual({ code: 0, signal: null, stdout: `${pkg.version}\n`, stderr: "" });
    expect(await run(SEA, ["--help"], { cwd: team, env: env() })).toEqual({ code: 0, signal: null, stdout: topUsage(), stderr: "" });
  });

  it("tunnel --env stg --yes --target stg-db --local-port 0 --json: psql through it, Ctrl-C, exit 0, nothing left", async () => {
    await expectTunnel(cloud, rows, { command: SEA, cwd: team, env: env(), state }, TUNNEL_ARGS);
  }, 60_000);
});

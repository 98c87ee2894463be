// The bad input table: each program fed a bad env, flag, config, port, plugin, agent or an
// AWS refusal answers with one exact line (operation, object, remedy), the right exit code, no stack
// trace — and leaves nothing behind in the local cloud (or exactly what its line says it could not remove).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECSClient, StopTaskCommand } from "@aws-sdk/client-ecs";
import { DeleteActivationCommand, DeleteParameterCommand, DeregisterManagedInstanceCommand, SSMClient } from "@aws-sdk/client-ssm";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "../support/clients.ts";
import { eventually } from "../support/eventually.ts";
import { entrypointRoleEnv } from "../support/iam.ts";
import { startScript } from "../support/run.ts";
import { runningServiceTaskId } from "../support/world.ts";
import { BAD_INPUT_CASES, REPO, countCases, type BadInputCase, type CaseContext, type Program, type RunOutput } from "./bad-input-cases.ts";

interface Bench {
  cloud: LocalCloud;
  appTaskId: string;
  /** Each program's principal, holding exactly its rendered policy of docker/iam/. */
  credentials: Record<Program, Record<string, string>>;
}

const CLOUD = { world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 }, stopTimeoutMs: 1000 } as const;
/** A run that outlives this is killed and fails its case. */
const RUN_LIMIT_MS = 45_000;

let quiet: Bench; // never faulted: cases that create nothing run side by side
let faulted: Bench; // faults set per case: cases run one at a time
let busy: Server;
let busyPort: number;
const dirs: string[] = [];

async function bench(): Promise<Bench> {
  const cloud = await startLocalCloud(CLOUD);
  const appTaskId = await runningServiceTaskId(cloud);
  const operator = cloud.principalEnv("operator");
  const credentials = { entrypoint: await entrypointRoleEnv(cloud), portforward: operator, exec: operator, "cleanup-orphans": cloud.principalEnv("sweeper") };
  return { cloud, appTaskId, credentials };
}

beforeAll(async () => {
  [quiet, faulted] = await Promise.all([bench(), bench()]);
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  busyPort = (busy.address() as { port: number }).port;
}, 90_000);

afterAll(async () => {
  busy?.close();
  await Promise.all([quiet?.cloud.stop(), faulted?.cloud.stop()]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const isSerial = (c: BadInputCase) => Boolean(c.serial || c.faults || c.drive);
const title = (c: BadInputCase) => `${c.program} · ${c.category} · ${c.name}`;

describe("the table", () => {
  it("tries at least 40 bad inputs, every program and every category of the table", () => {
    const counts = countCases();
    expect(BAD_INPUT_CASES.length).toBeGreaterThanOrEqual(40);
    for (const program of ["entrypoint", "portforward", "exec", "cleanup-orphans"])
      expect(Object.keys(counts).some((k) => k.startsWith(`${program}/`))).toBe(true);
    const categories = new Set(BAD_INPUT_CASES.map((c) => c.category));
    expect(categories.size).toBe(12);
  });
});

describe.concurrent("bad input, nothing created on the way", () => {
  for (const c of BAD_INPUT_CASES.filter((c) => !isSerial(c))) it(title(c), () => check(c, quiet));
});

describe("bad input that creates something or needs faults, one at a time", () => {
  for (const c of BAD_INPUT_CASES.filter(isSerial)) it(title(c), () => check(c, faulted));
});

// Each program ran as its principal, holding exactly its rendered policy: the local cloud refused
// only the calls a case names (most refusals the table is about are injected as faults). The cases
// that run side by side share a caller, so their cloud is judged once, after all of them.
describe("IAM", () => {
  it("refused no call of the cases run side by side but those they name", () => {
    const named = BAD_INPUT_CASES.filter((c) => !isSerial(c)).flatMap((c) => c.refused ?? []);
    expect(refusedCalls(quiet.cloud).sort()).toEqual(named.sort());
  });
});

/** The calls IAM refused since `since`, as "<action> on <resource ARN>". */
function refusedCalls(cloud: LocalCloud, since = 0): string[] {
  return cloud
    .deniedCalls()
    .slice(since)
    .map((d) => `${d.action} on ${d.resource}`);
}

async function check(c: BadInputCase, where: Bench): Promise<void> {
  const { cloud } = where;
  const dir = mkdtempSync(join(tmpdir(), "bad-input-"));
  dirs.push(dir);
  const ctx: CaseContext = { region: cloud.region, busyPort, appTaskId: where.appTaskId, dir, seeded: {}, credentials: where.credentials[c.program] };
  for (const [name, text] of Object.entries(typeof c.files === "function" ? c.files(ctx) : (c.files ?? {}))) writeFileSync(join(dir, name), text);
  const before = inventory(await cloud.state());
  if (c.seed) ctx.seeded = await withClients(cloud, (ssm, ecs) => c.seed!({ cloud, ssm, ecs, dir }));
  if (c.faults) await cloud.setFaults(c.faults);
  const deniedBefore = cloud.deniedCalls().length;
  let out: RunOutput & { code: number | null; signal: NodeJS.Signals | null };
  try {
    out = await run(c, cloud, ctx);
  } finally {
    if (c.faults) await cloud.setFaults({});
  }

  // A case run alone: IAM refused none of its program's calls but those it names.
  if (where === faulted) expect(refusedCalls(cloud, deniedBefore), out.stderr).toEqual(c.refused ?? []);
  expect(out.code, out.stderr).toBe(c.code);
  const expected = typeof c.message === "function" ? c.message(ctx, out) : c.message;
  expect(messageLines(c, out), out.stderr).toEqual(expected === null ? [] : [expected]);
  expect(out.stderr).not.toMatch(/^\s+at \S.*:\d+:\d+\)?$/m);
  expect(out.stderr).not.toMatch(/^\w*Error: /m);

  // A task asked to stop and sessions being closed settle within seconds.
  const after = await eventually(
    async () => {
      const now = inventory(await cloud.state());
      const tasks = now.tasks.filter((t) => !before.tasks.includes(t)).length;
      return tasks <= (c.leaves?.tasks ?? 0) && now.sessions.every((s) => before.sessions.includes(s)) ? now : undefined;
    },
    15_000,
    "the bastion tasks stopped and the sessions closed",
  ).catch(async () => inventory(await cloud.state()));
  const left = {
    activations: after.activations.filter((x) => !before.activations.includes(x)),
    instances: after.instances.filter((x) => !before.instances.includes(x)),
    parameters: after.parameters.filter((x) => !before.parameters.includes(x)),
    tasks: after.tasks.filter((x) => !before.tasks.includes(x)),
    sessions: after.sessions.filter((x) => !before.sessions.includes(x)),
  };
  try {
    expect({
      activations: left.activations.length,
      instances: left.instances.length,
      parameters: left.parameters.length,
      tasks: left.tasks.length,
      sessions: left.sessions,
    }).toEqual({
      activations: c.leaves?.activations ?? 0,
      instances: c.leaves?.instances ?? 0,
      parameters: c.leaves?.parameters ?? 0,
      tasks: c.leaves?.tasks ?? 0,
      sessions: [],
    });
  } finally {
    await remove(cloud, left);
  }
}

/** The line(s) a case is judged on: "<program>: …" (or "warning: …", stdout's "  failed: …" or "Dry run: …"); the entrypoint's error events' messages. */
function messageLines(c: BadInputCase, out: RunOutput): string[] {
  if (c.line === "failed") return out.stdout.split("\n").filter((l) => l.startsWith("  failed: "));
  if (c.line === "dry run") return out.stdout.split("\n").filter((l) => l.startsWith("Dry run: "));
  if (c.program === "entrypoint") {
    return out.events
      .filter((e) => e.level === "error")
      .map((e) => e.msg ?? e.error)
      .filter((m): m is string => typeof m === "string");
  }
  const prefix = c.line === "warning" ? "warning: " : `${c.program}: `;
  return out.stderr.split("\n").filter((l) => l.startsWith(prefix));
}

/** What may be left of a run: ids of activations, instances, parameters, live bastion tasks and open sessions. */
function inventory(s: Awaited<ReturnType<LocalCloud["state"]>>) {
  return {
    activations: s.activations.map((a) => a.activationId),
    instances: s.instances.map((i) => i.instanceId),
    parameters: s.parameters.map((p) => p.name),
    tasks: s.tasks.filter((t) => t.lastStatus !== "STOPPED").map((t) => t.taskArn),
    sessions: s.sessions.filter((x) => !["Terminated", "Failed"].includes(x.status)).map((x) => x.sessionId),
  };
}

/** The next case starts from the same world: what a case was expected to leave goes. */
async function remove(cloud: LocalCloud, left: { activations: string[]; instances: string[]; parameters: string[]; tasks: string[] }): Promise<void> {
  if (!left.activations.length && !left.instances.length && !left.parameters.length && !left.tasks.length) return;
  await withClients(cloud, async (ssm, ecs) => {
    for (const id of left.activations) await ssm.send(new DeleteActivationCommand({ ActivationId: id }));
    for (const id of left.instances) await ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: id }));
    for (const name of left.parameters) await ssm.send(new DeleteParameterCommand({ Name: name }));
    for (const arn of left.tasks) await ecs.send(new StopTaskCommand({ cluster: arn.split("/").at(-2), task: arn }));
  });
}

async function withClients<T>(cloud: LocalCloud, work: (ssm: SSMClient, ecs: ECSClient) => Promise<T>): Promise<T> {
  const ssm = new SSMClient(cloudConfig(cloud));
  const ecs = new ECSClient(cloudConfig(cloud));
  try {
    return await work(ssm, ecs);
  } finally {
    ssm.destroy();
    ecs.destroy();
  }
}

function run(c: BadInputCase, cloud: LocalCloud, ctx: CaseContext): Promise<RunOutput & { code: number | null; signal: NodeJS.Signals | null }> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: ctx.dir,
    XDG_STATE_HOME: join(ctx.dir, "state"),
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    ...cloud.env,
    ...ctx.credentials,
    BASTIONLESS_CONFIG: "",
  };
  for (const [k, v] of Object.entries(typeof c.env === "function" ? c.env(ctx) : (c.env ?? {}))) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  mkdirSync(join(ctx.dir, "state"), { recursive: true });
  const args = typeof c.args === "function" ? c.args(ctx) : (c.args ?? []);
  const running = startScript(`scripts/${c.program}.mts`, [...args, ...(c.cmd ?? [])], { cwd: c.cwd ?? REPO, baseEnv: {}, env, timeoutMs: RUN_LIMIT_MS });
  const { child, stdout, stderr } = running;
  let exited = false;
  void running.result.then(() => (exited = true));
  /** Waits until `condition` holds, the program is gone, or `timeoutMs` passed. */
  const until = (condition: () => boolean, timeoutMs = 30_000) =>
    eventually(async () => (condition() || exited ? true : undefined), timeoutMs).catch(() => undefined);

  const driving = (async () => {
    if (c.drive === "sigterm-when-registered") {
      await until(() => stderr().includes('"event":"registration_complete"'));
      child.kill("SIGTERM");
    } else if (c.drive === "connect-then-interrupt") {
      await until(() => stdout().includes('"event":"ready"'));
      const line = stdout()
        .split("\n")
        .find((l) => l.startsWith("{"));
      if (!line) return;
      const port = (JSON.parse(line) as { forwards: Array<{ localPort: number }> }).forwards[0].localPort;
      await new Promise<void>((resolve) => {
        const socket = connect({ port, host: "127.0.0.1" });
        socket.once("close", () => resolve());
        socket.once("error", () => resolve());
        socket.setTimeout(10_000, () => socket.destroy());
      });
      await until(() => stderr().includes("warning: port"), 10_000);
      child.kill("SIGINT");
    }
  })();

  return running.result.then(async ({ code, signal, stdout, stderr }) => {
    await driving.catch(() => {});
    if (c.program === "entrypoint") {
      for (const l of stderr.split("\n").filter(Boolean)) expect(() => JSON.parse(l), `a JSON log line: ${l}`).not.toThrow();
    }
    return { stdout, stderr, events: jsonLines(stderr), code, signal };
  });
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text.split("\n").flatMap((l) => {
    if (!l.startsWith("{")) return [];
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

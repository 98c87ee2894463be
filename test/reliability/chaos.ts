// Lifecycle chaos: a bastion task (portforward) or a plain entrypoint process starts, registers,
// serves a tunnel and an exec, and stops — under random latency, throttling, 5xx and data-channel
// faults, with a SIGTERM, SIGINT, SIGKILL, StopTask or container crash at a random moment. Then:
//   1. a stop the program could handle (SIGTERM, SIGINT, StopTask) must leave nothing on its own;
//   2. after one `cleanup-orphans --yes`, nothing that belongs to the lifecycle may be left at all.
// Every choice comes from the lifecycle's seed, printed with any failure so it can be replayed
// (CHAOS_SEEDS=<seed> …); the timing of processes and sockets is not replayable, the plan is.
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECSClient, StopTaskCommand } from "@aws-sdk/client-ecs";
import { seededRandom, startLocalCloud, type FaultSpec, type LocalCloud, type State } from "../localcloud/index.ts";
import { REPO, startEntrypoint } from "../e2e/entrypoint-harness.ts";
import { startPortforward } from "../e2e/portforward-harness.ts";
import { databaseEndpoint } from "../support/bastion.ts";
import { ROOT_KEY, entrypointRoleEnv, grantProgramPolicies } from "../support/iam.ts";
import { eventually, sleep } from "../support/eventually.ts";
import { startPty } from "../support/pty.ts";
import { startScript } from "../support/run.ts";
import { cloudConfig } from "../support/clients.ts";

/** terminal: portforward run by a person in a terminal (a real pty) that is then closed. */
export type Kind = "entrypoint" | "bastion" | "terminal";
export type Moment = "registration" | "session" | "cleanup";
/** How the lifecycle ends: a signal to the program, StopTask from outside, or the container killed whole. */
export type Stop = "SIGTERM" | "SIGINT" | "SIGKILL" | "StopTask" | "crash" | "close-terminal";

export interface Plan {
  seed: number;
  kind: Kind;
  moment: Moment;
  stop: Stop;
  /** For moment "cleanup": the program is stopped gracefully first, then SIGKILLed this long after. */
  delayMs: number;
  via: "ecs-exec" | "instance";
  faults: FaultSpec;
}

export interface Lifecycle {
  plan: Plan;
  /** Where the stop really landed: the plan's moment may come too late or too early. */
  hit: string;
  /** What worked on the way: registered, tunnel, exec; and the exit of the program. */
  notes: string[];
  /** Leaks after a stop the program could handle, before any sweep. */
  leftByProgram: string[];
  /** Leaks after one cleanup-orphans --yes. */
  leftAfterSweep: string[];
  /** Every captured output and log of the lifecycle, for the secret scan. */
  outputs: { source: string; text: string }[];
  injected: Record<string, number>;
  durationMs: number;
  error?: string;
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)];

/** The whole plan of one lifecycle, from its seed alone. */
export function planLifecycle(seed: number): Plan {
  const random = seededRandom(seed);
  const kind = pick(random, ["entrypoint", "bastion"] as const);
  const moment = pick(random, ["registration", "session", "session", "cleanup"] as const);
  const stops: Record<"entrypoint" | "bastion", Record<Moment, readonly Stop[]>> = {
    entrypoint: { registration: ["SIGTERM", "SIGKILL"], session: ["SIGTERM", "SIGTERM", "SIGKILL"], cleanup: ["SIGKILL"] },
    bastion: {
      registration: ["SIGINT", "SIGTERM", "SIGKILL", "StopTask"],
      session: ["SIGINT", "SIGTERM", "SIGKILL", "StopTask", "crash"],
      cleanup: ["SIGKILL"],
    },
  };
  const stop = pick(random, stops[kind][moment]);
  // Cleanup takes 100–500 ms when nothing is slow: a kill 0–250 ms after it starts lands inside it.
  const delayMs = Math.floor(random() * delayRangeMs(kind, moment));
  const via = pick(random, ["ecs-exec", "instance"] as const);
  const rate = () => pick(random, [0, 0.01, 0.03]);
  const faults: FaultSpec = {
    seed,
    "*:*": { latencyMs: pick(random, [0, 20, 80, 200]), throttleRate: 0.2, errorRate: 0.1 },
    dataChannel: {
      drop: { in: rate(), out: rate() },
      duplicate: { in: rate(), out: rate() },
      reorder: { in: rate(), out: rate() },
      ...(random() < 0.4 ? { closeAfterSeconds: pick(random, [1, 2.5]) } : {}),
    },
  };
  return { seed, kind, moment, stop, delayMs, via, faults };
}

/**
 * A lifecycle under a real terminal that is closed: while the bastion starts (registration), with
 * the tunnel open (session), or after Ctrl-C while the bastion stops (cleanup) — on either path,
 * through make or not, under the same faults as the others.
 */
export function planTerminalLifecycle(seed: number): Plan & { make: boolean } {
  const random = seededRandom(seed);
  const moment = pick(random, ["registration", "session", "cleanup"] as const);
  const delayMs = Math.floor(random() * (moment === "registration" ? 4000 : 400));
  const via = pick(random, ["ecs-exec", "instance"] as const);
  const make = random() < 0.5;
  const faults: FaultSpec = { seed, "*:*": { latencyMs: pick(random, [0, 20, 80]), throttleRate: 0.2, errorRate: 0.1 } };
  return { seed, kind: "terminal", moment, stop: "close-terminal", delayMs, via, faults, make };
}

/** A stop the program gets to handle: it must then leave nothing behind by itself. */
export function isGraceful(plan: Plan): boolean {
  if (plan.stop === "close-terminal") return true;
  return plan.moment !== "cleanup" && (plan.stop === "SIGTERM" || plan.stop === "SIGINT" || plan.stop === "StopTask");
}

export function describePlan(plan: Plan): string {
  if (plan.kind === "terminal") {
    const f = plan.faults["*:*"]!;
    const when = {
      registration: `${plan.delayMs} ms after the start`,
      session: "with the tunnel open",
      cleanup: `${plan.delayMs} ms into the stop after Ctrl-C`,
    }[plan.moment];
    return `portforward in a terminal${(plan as { make?: boolean }).make ? " through make" : ""} --via ${plan.via}, the terminal closed ${when}; faults: latency ${f.latencyMs} ms, throttling ${f.throttleRate! * 100} %, 5xx ${f.errorRate! * 100} %`;
  }
  const how =
    plan.moment === "cleanup"
      ? `${plan.kind === "bastion" ? "SIGINT" : "SIGTERM"}, then SIGKILL ${plan.delayMs} ms into the cleanup`
      : `${plan.stop} during ${plan.moment}`;
  const f = plan.faults["*:*"]!;
  const dc = plan.faults.dataChannel!;
  const dataFaults = `drop ${dc.drop?.in}/${dc.drop?.out}, dup ${dc.duplicate?.in}/${dc.duplicate?.out}, reorder ${dc.reorder?.in}/${dc.reorder?.out}${dc.closeAfterSeconds ? `, WebSocket closed every ${dc.closeAfterSeconds} s` : ""}`;
  return `${plan.kind}${plan.kind === "bastion" ? ` --via ${plan.via}` : ""}, ${how}; faults: latency ${f.latencyMs} ms, throttling ${f.throttleRate! * 100} %, 5xx ${f.errorRate! * 100} %, ${dataFaults}`;
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Proc {
  child: ChildProcess;
  out(): string;
  err(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
}

/** The tunnel every lifecycle opens: stg-db on a free port, through the plan's path, with the native client. */
function tunnelArgs(plan: Plan): string[] {
  return [
    "--env",
    "stg",
    "--target",
    "stg-db",
    "--local-port",
    "0",
    "--task-definition",
    "stg-bastion",
    "--via",
    plan.via,
    "--client",
    "native",
    "--timeout",
    "60s",
  ];
}

function tsx(script: string, args: string[], env: Record<string, string>): Proc {
  const { child, stdout, stderr, result } = startScript(script, args, { env, timeoutMs: Number.POSITIVE_INFINITY });
  const exited = result.then(({ code, signal }) => ({ code, signal }));
  return { child, out: stdout, err: stderr, exited, alive: () => child.exitCode === null && child.signalCode === null };
}

async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([promise, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  clearTimeout(timer);
  return result;
}

/** Whether `what` came true within `ms`. */
function until(what: () => boolean | Promise<boolean>, ms: number, every = 50): Promise<boolean> {
  return eventually(async () => ((await what()) ? true : undefined), ms, "condition", every).catch(() => false);
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** Stops a helper process for good: SIGTERM, then SIGKILL after `graceMs`. */
async function finish(proc: Proc | undefined, graceMs = 3000): Promise<void> {
  if (!proc || !proc.alive()) return;
  proc.child.kill("SIGTERM");
  if (!(await within(proc.exited, graceMs))) {
    proc.child.kill("SIGKILL");
    await proc.exited;
  }
}

/** PostgreSQL's SSLRequest through a local port: a server without SSL answers "N". */
function sslRequest(port: number, timeoutMs = 15_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.once("connect", () => socket.write(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])));
    socket.once("data", (d) => {
      socket.destroy();
      resolve(d.toString() === "N");
    });
    socket.once("error", () => resolve(false));
    socket.once("close", () => resolve(false));
  });
}

function readTree(dir: string, source: string): { source: string; text: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((file) => statSync(file).size < 4 << 20)
    .map((file) => ({ source: `${source}/${file.slice(dir.length + 1)}`, text: readFileSync(file, "utf8") }));
}

// ---------------------------------------------------------------------------------------------
// What belongs to a lifecycle, and what is left of it

/** Everything of ours in the cloud that costs money, opens a door or holds a secret. */
export function inventoryOf(s: State): Map<string, string> {
  const items = new Map<string, string>();
  for (const t of s.tasks) {
    if (t.startedBy?.startsWith("bastionless:") && t.lastStatus !== "STOPPED")
      items.set(`task ${t.taskId}`, `task ${t.taskId} ${t.lastStatus} (${t.family}, startedBy ${t.startedBy})`);
  }
  for (const a of s.activations)
    items.set(
      `activation ${a.activationId}`,
      `activation ${a.activationId} (${a.registrationsCount}/${a.registrationLimit} registrations, source ${a.tags["bastionless:source"] ?? "?"})`,
    );
  for (const i of s.instances)
    items.set(`instance ${i.instanceId}`, `instance ${i.instanceId} ${i.pingStatus} (${i.name ?? "no name"}, source ${i.tags["bastionless:source"] ?? "?"})`);
  for (const p of s.parameters) items.set(`parameter ${p.name}`, `parameter ${p.name} = ${p.value}`);
  for (const x of s.sessions) {
    if (x.status !== "Terminated" && x.status !== "Failed") items.set(`session ${x.sessionId}`, `session ${x.sessionId} ${x.status} to ${x.target}`);
  }
  return items;
}

function newSince(baseline: Map<string, string>, now: Map<string, string>): string[] {
  return [...now].filter(([key]) => !baseline.has(key)).map(([, line]) => line);
}

const TRANSITIONAL = new Set(["PROVISIONING", "PENDING", "ACTIVATING", "DEACTIVATING", "STOPPING", "DEPROVISIONING"]);

// ---------------------------------------------------------------------------------------------
// One lifecycle

export interface ChaosWorld {
  cloud: LocalCloud;
  dbHost: string;
  /** The entrypoint script the plain-process lifecycles run (scripts/entrypoint.mts, or a mutant of it). */
  entrypoint: string;
  /** The plain-process entrypoint's principal: a session of its task role for env chaos. */
  entrypointEnv: Record<string, string>;
}

/** Removals AWS refuses, under our tag-conditioned policies, once their object is gone. */
const REMOVALS = new Set(["ssm:DeregisterManagedInstance", "ssm:DeleteParameter"]);

/** The env of the plain-process lifecycles (the bastion lifecycles use stg). */
const CHAOS_ENV = "chaos";

export async function startChaosWorld(entrypoint = join(REPO, "scripts/entrypoint.mts")): Promise<ChaosWorld> {
  const cloud = await startLocalCloud({
    world: "demo",
    taskDelays: { provisioningMs: 300, pendingMs: 300 },
    stopTimeoutMs: 10_000,
    connectionLostAfterMs: 3000,
  });
  // Every program runs as its principal holding exactly its rendered policy: the operator and the
  // sweeper get theirs for env chaos too, as a team with that env renders them.
  await grantProgramPolicies(cloud, CHAOS_ENV);
  return { cloud, dbHost: (await databaseEndpoint(cloud)).host, entrypoint, entrypointEnv: await entrypointRoleEnv(cloud, CHAOS_ENV) };
}

async function injectedCounts(cloud: LocalCloud): Promise<Record<string, number>> {
  const res = (await (await fetch(`${cloud.endpoint}/_localcloud/faults/injected`)).json()) as {
    controlPlane: Record<string, number>;
    dataChannel?: Record<string, number>;
  };
  return { ...res.controlPlane, ...Object.fromEntries(Object.entries(res.dataChannel ?? {}).map(([k, v]) => [`dataChannel.${k}`, v])) };
}

export async function runLifecycle(world: ChaosWorld, plan: Plan): Promise<Lifecycle> {
  const { cloud } = world;
  const started = Date.now();
  const before = await injectedCounts(cloud);
  const baseline = inventoryOf(await cloud.state());
  const deniedBefore = cloud.deniedCalls().length;
  const life: Lifecycle = { plan, hit: "", notes: [], leftByProgram: [], leftAfterSweep: [], outputs: [], injected: {}, durationMs: 0 };
  const home = mkdtempSync(join(tmpdir(), `chaos-${plan.seed}-`));
  try {
    await cloud.setFaults(plan.faults);
    const run = { entrypoint: entrypointLifecycle, terminal: terminalLifecycle, bastion: bastionLifecycle }[plan.kind];
    const finished = await within(
      run(world, plan, life, home).then(() => true),
      150_000,
    );
    if (finished === undefined) throw new Error("the lifecycle did not finish within 150 s (a program hung)");
  } catch (error) {
    life.error = (error as Error).message;
  } finally {
    await cloud.setFaults({});
    const after = await injectedCounts(cloud);
    life.injected = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - (before[k] ?? 0)]));
    life.outputs.push(...readTree(home, "state"));
    rmSync(home, { recursive: true, force: true });
  }
  if (!life.error) {
    try {
      await checkLeaks(world, plan, life, baseline);
    } catch (error) {
      life.error = (error as Error).message;
    }
  }
  // A call IAM refused fails the lifecycle, naming the action (faults never inject a denial here) —
  // but for a removal of what is gone by now: a task role may remove only what carries our tags, so
  // AWS refuses, rather than "not found", a deregister or delete that a sweep, the program's other
  // half, or an earlier attempt whose answer was lost got to first.
  const left = await cloud.state();
  const present = new Set([...left.instances.map((i) => `managed-instance/${i.instanceId}`), ...left.parameters.map((p) => `parameter${p.name}`)]);
  const alreadyGone = (d: { action: string; resource: string }) => REMOVALS.has(d.action) && !present.has(d.resource.split(":").slice(5).join(":"));
  const refused = cloud
    .deniedCalls()
    .slice(deniedBefore)
    .filter((d) => !alreadyGone(d))
    .map((d) => `${d.caller} was denied ${d.action} on ${d.resource}`);
  if (refused.length) life.error = [life.error, `the local cloud refused ${refused.length} call(s): ${refused.join("; ")}`].filter(Boolean).join("; ");
  life.durationMs = Date.now() - started;
  return life;
}

async function checkLeaks(world: ChaosWorld, plan: Plan, life: Lifecycle, baseline: Map<string, string>): Promise<void> {
  const { cloud } = world;
  const leftNow = async () => newSince(baseline, inventoryOf(await cloud.state()));
  // A killed program's last calls are still answered (and take effect) after it is gone.
  // Quiet = no call in progress for a second: a call still in a socket buffer is read by then.
  const quiet = async () => ((await (await fetch(`${cloud.endpoint}/_localcloud/inflight`)).json()) as { idleMs: number }).idleMs >= 1000;
  await until(quiet, 15_000, 50);
  // Tasks being stopped finish stopping first (their entrypoint is cleaning up).
  await until(async () => !(await cloud.state()).tasks.some((t) => t.startedBy?.startsWith("bastionless:") && TRANSITIONAL.has(t.lastStatus)), 25_000, 200);
  if (isGraceful(plan)) {
    await until(async () => (await leftNow()).length === 0, 10_000, 200);
    life.leftByProgram = await leftNow();
  }
  // What a crash left: the instance of a dead agent reads ConnectionLost once its pings stop.
  await until(
    async () => {
      const s = await cloud.state();
      const running = new Set(s.tasks.filter((t) => t.lastStatus === "RUNNING").map((t) => t.taskArn));
      return s.instances.every((i) => i.pingStatus !== "Online" || running.has(i.tags["bastionless:source"] ?? ""));
    },
    10_000,
    200,
  );
  // The sweep comes after the last call of the lifecycle has landed, as a cron run does.
  await until(quiet, 15_000, 50);
  const sweep = tsx(join(REPO, "scripts/cleanup-orphans.mts"), ["--yes", "--json", "--stale-after", "0s", "--task-ttl", "0s"], {
    ...cloud.env,
    ...cloud.principalEnv("sweeper"),
  });
  const swept = await within(sweep.exited, 60_000);
  life.outputs.push({ source: "cleanup-orphans stdout", text: sweep.out() }, { source: "cleanup-orphans stderr", text: sweep.err() });
  if (!swept) {
    sweep.child.kill("SIGKILL");
    throw new Error("cleanup-orphans --yes did not finish within 60 s");
  }
  life.notes.push(`sweep exit ${swept.code}`);
  if (swept.code !== 0) throw new Error(`cleanup-orphans --yes exited ${swept.code}: ${sweep.err().trim().split("\n").slice(-3).join(" | ")}`);
  // A task the sweep stopped still has its container's cleanup to run.
  await until(async () => (await leftNow()).length === 0, 25_000, 200);
  // What the sweep decided about each thing still there: the first question a leak raises.
  life.leftAfterSweep = (await leftNow()).map((line) => `${line} — ${sweepVerdict(sweep.out(), line)}`);
}

function sweepVerdict(report: string, line: string): string {
  type Item = { kind: string; id: string; action?: string; reason: string };
  let parsed: { plan?: { actions?: Item[]; kept?: Item[] }; results?: Array<{ id: string; ok: boolean; detail: string }> };
  try {
    parsed = JSON.parse(report);
  } catch {
    return "the sweep printed no JSON report";
  }
  const [kind, key] = line.split(" ");
  const matches = (d: Item) => d.kind === kind && (d.id === key || d.id.endsWith(`/${key}`));
  const acted = parsed.plan?.actions?.find(matches);
  if (acted) {
    const result = parsed.results?.find((r) => r.id === acted.id);
    return `the sweep planned to ${acted.action} it (${acted.reason})${result ? `: ${result.ok ? "done" : `failed: ${result.detail}`}` : ""}`;
  }
  const kept = parsed.plan?.kept?.find(matches);
  return kept ? `the sweep kept it: ${kept.reason}` : "not in the sweep's inventory";
}

type Step = (world: ChaosWorld, plan: Plan, life: Lifecycle, home: string) => Promise<void>;

/** A plain entrypoint process with the recording app as its CMD; the operator's side through the native client. */
const entrypointLifecycle: Step = async (world, plan, life, home) => {
  const { cloud } = world;
  const run = startEntrypoint({
    cloud,
    script: world.entrypoint,
    env: { ...world.entrypointEnv, BASTION_ENV: CHAOS_ENV, BASTION_SHUTDOWN_TIMEOUT: "6s", HOME: home },
  });
  const operator = { ...cloud.env, ...cloud.principalEnv("operator") };
  let forward: Proc | undefined;
  const kill = (signal: NodeJS.Signals) => run.proc.kill(signal);
  const has = (event: string) => run.events().some((e) => e.event === event);
  const exited = () => run.proc.exitCode !== null || run.proc.signalCode !== null;
  try {
    if (plan.moment === "registration") {
      await sleep(plan.delayMs);
      life.hit = has("registration_complete") ? "after registration" : "registration";
      kill(plan.stop as NodeJS.Signals);
    } else {
      await until(() => has("registration_complete") || has("registration_failed") || exited(), 40_000);
      const complete = run.events().find((e) => e.event === "registration_complete");
      const instanceId = complete?.instanceId as string | undefined;
      life.notes.push(instanceId ? "registered" : "registration failed");
      if (instanceId && plan.moment === "session") {
        forward = tsx(join(REPO, "test/reliability/fixtures/client.mts"), ["forward", instanceId, world.dbHost, "5432"], operator);
        const port = await until(() => forward!.out().includes("\n") || !forward!.alive(), 30_000);
        const ready = port && forward.out().startsWith("{") ? (JSON.parse(forward.out().split("\n")[0]) as { port: number }) : undefined;
        life.notes.push(ready && (await sslRequest(ready.port)) ? "tunnel ok" : "tunnel failed");
        // As root: the one-command session is AWS-StartInteractiveCommand, a document the operator policy
        // does not grant (it grants the port forwarding documents and the default shell).
        const command = tsx(join(REPO, "test/reliability/fixtures/client.mts"), ["command", instanceId, `echo chaos-${plan.seed}`], {
          ...cloud.env,
          ...ROOT_KEY,
        });
        const done = await within(command.exited, 30_000);
        if (!done) await finish(command);
        life.notes.push(command.out().includes(`chaos-${plan.seed}`) ? "exec ok" : "exec failed");
        life.outputs.push({ source: "client command stdout", text: command.out() }, { source: "client command stderr", text: command.err() });
        await sleep(plan.delayMs);
      }
      if (plan.moment === "cleanup") {
        kill("SIGTERM");
        await until(() => has("cleanup_started") || exited(), 10_000, 10);
        await sleep(plan.delayMs);
        life.hit = cleanupMoment(exited(), has("cleanup_done"));
        kill("SIGKILL");
      } else {
        life.hit = sessionMoment(exited(), Boolean(instanceId));
        kill(plan.stop as NodeJS.Signals);
      }
    }
    // The process's own exit: its app and agent may hold the output pipes open after a SIGKILL.
    const exit = await within(exitOf(run.proc), 15_000);
    life.notes.push(exit ? `exit ${exit.code ?? exit.signal}` : "still running 15 s after the stop");
  } finally {
    // A SIGKILLed entrypoint is a dead container: its app and agent die with it.
    life.outputs.push({ source: "entrypoint stdout", text: run.stdout() }, { source: "entrypoint stderr", text: run.stderr() });
    await run.dispose();
    if (forward) {
      await finish(forward);
      life.outputs.push({ source: "client forward stdout", text: forward.out() }, { source: "client forward stderr", text: forward.err() });
    }
  }
};

/** portforward launching a bastion task that runs the entrypoint; exec into it; then the stop. */
const bastionLifecycle: Step = async (world, plan, life, home) => {
  const { cloud } = world;
  const pf = startPortforward(cloud, ["--yes", "--json", ...tunnelArgs(plan)], { XDG_STATE_HOME: join(home, "state"), HOME: home, USER: `chaos-${plan.seed}` });
  pf.ready.catch(() => undefined);
  const ecs = new ECSClient(cloudConfig(cloud, { maxAttempts: 10 }));
  const alive = () => pf.child.exitCode === null && pf.child.signalCode === null;
  const ourTask = async () => (await cloud.state()).tasks.find((t) => t.startedBy === `bastionless:chaos-${plan.seed}`);
  const stopTask = async () => {
    const task = await ourTask();
    if (!task) return false;
    await ecs.send(new StopTaskCommand({ cluster: task.cluster, task: task.taskArn, reason: "chaos: stopped from outside" }));
    return true;
  };
  const crash = async () => {
    const pid = (await ourTask())?.containers[0]?.pid;
    if (!pid) return false;
    // The container's process group: the entrypoint, its agent and everything else in it.
    process.kill(-pid, "SIGKILL");
    return true;
  };
  let exec: Proc | undefined;
  try {
    if (plan.moment === "registration") {
      await sleep(plan.delayMs);
      const task = await ourTask();
      const ready = await Promise.race([
        pf.ready.then(
          () => true,
          () => false,
        ),
        sleep(0).then(() => false),
      ]);
      life.hit = alive() ? registrationMoment(ready, task) : "after exit";
      if (plan.stop === "StopTask") {
        // StopTask needs a task: when the moment comes before RunTask's answer, it waits for the task.
        await until(async () => !alive() || Boolean(await ourTask()), 30_000);
        const launched = await ourTask();
        if (!task && launched) life.hit = `registration (task ${launched.lastStatus}, just launched)`;
        if (!(await stopTask())) life.hit = alive() ? "no task within 30 s" : "after exit";
      } else pf.child.kill(plan.stop as NodeJS.Signals);
    } else {
      const ready = await within(
        pf.ready.catch(() => undefined),
        120_000,
      );
      if (!ready) {
        life.hit = "portforward never ready";
        life.notes.push(`portforward failed: ${pf.stderr().trim().split("\n").at(-1) ?? ""}`);
      } else {
        life.notes.push("registered");
        life.notes.push((await sslRequest(ready.forwards[0].localPort)) ? "tunnel ok" : "tunnel failed");
        exec = tsx(
          join(REPO, "scripts/exec.mts"),
          ["--env", "stg", "--yes", "--task", ready.task, "--command", `echo chaos-${plan.seed}`, "--client", "native"],
          {
            ...cloud.env,
            ...cloud.principalEnv("operator"),
            HOME: home,
            XDG_STATE_HOME: join(home, "state"),
          },
        );
        if (!(await within(exec.exited, 40_000))) await finish(exec);
        life.notes.push(exec.out().includes(`chaos-${plan.seed}`) ? "exec ok" : `exec failed: ${exec.err().trim().split("\n").at(-1) ?? ""}`);
        await sleep(plan.delayMs);
        life.hit = alive() ? "session" : "after exit";
        if (plan.moment === "cleanup") {
          pf.child.kill("SIGINT");
          await until(() => pf.stderr().includes("Stopping bastion task") || !alive(), 10_000, 10);
          await sleep(plan.delayMs);
          life.hit = alive() ? "cleanup" : "after exit";
          pf.child.kill("SIGKILL");
        } else if (plan.stop === "StopTask") await stopTask();
        else if (plan.stop === "crash") {
          if (!(await crash())) life.hit = "no container to crash";
        } else pf.child.kill(plan.stop as NodeJS.Signals);
      }
    }
    const exit = await within(pf.exited, 60_000);
    const last = pf.stderr().trim().split("\n").at(-1) ?? "";
    life.notes.push(exit ? `portforward exit ${exit.code ?? exit.signal}${exit.code ? ` (${last})` : ""}` : "portforward still running 60 s after the stop");
    if (!exit) pf.child.kill("SIGKILL");
  } finally {
    if (alive()) pf.child.kill("SIGKILL");
    await pf.exited;
    if (exec) {
      await finish(exec);
      life.outputs.push({ source: "exec stdout", text: exec.out() }, { source: "exec stderr", text: exec.err() });
    }
    life.outputs.push({ source: "portforward stdout", text: pf.stdout() }, { source: "portforward stderr", text: pf.stderr() });
    const task = await ourTask();
    if (task) {
      const logs = (await (await fetch(`${cloud.endpoint}/_localcloud/logs/${task.taskId}`)).json()) as Record<string, string>;
      for (const [name, text] of Object.entries(logs)) life.outputs.push({ source: `container ${task.taskId}/${name}`, text: String(text ?? "") });
    }
    ecs.destroy();
  }
};

/** portforward in a real terminal, as a person runs it; the lifecycle ends with the terminal closed. */
const terminalLifecycle: Step = async (world, plan, life, home) => {
  const { cloud } = world;
  const user = `chaos-${plan.seed}`;
  const pty = startPty({
    cwd: REPO,
    env: {
      ...process.env,
      ...cloud.env,
      ...cloud.principalEnv("operator"),
      XDG_STATE_HOME: join(home, "state"),
      HOME: home,
      USER: user,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
  });
  const args = tunnelArgs(plan);
  const ourTask = async () => (await cloud.state()).tasks.find((t) => t.startedBy === `bastionless:${user}`);
  let gone = true;
  try {
    await pty.run(
      (plan as { make?: boolean }).make
        ? `make tunnel ARGS='${args.join(" ")}'`
        : `node --import tsx ${join(REPO, "scripts/portforward.mts")} ${args.join(" ")}`,
    );
    if (plan.moment === "registration") {
      await sleep(plan.delayMs);
      const task = await ourTask();
      life.hit = registrationMoment(pty.text().includes("Press Ctrl-C"), task);
    } else {
      // Open, or ended before (a start that failed under the faults: the shell reports its status).
      const open = await Promise.race([
        pty.waitFor("Press Ctrl-C to close the tunnel", 120_000).then(
          () => true,
          () => false,
        ),
        pty.exitStatus(120_000).then(
          () => false,
          () => false,
        ),
      ]);
      const port = /127\.0\.0\.1:(\d+) →/.exec(pty.text())?.[1];
      const failure = pty
        .text()
        .split("\n")
        .filter((l) => /^portforward: /.test(l))
        .at(-1);
      life.notes.push(open ? "registered" : `portforward never ready: ${failure ?? pty.text().trim().split("\n").slice(-3).join(" | ")}`);
      if (open && port) life.notes.push((await sslRequest(Number(port))) ? "tunnel ok" : "tunnel failed");
      if (plan.moment === "cleanup" && open) {
        pty.type("\x03");
        await pty.waitFor(/Stop bastion task|Stopping bastion task/, 20_000).catch(() => {});
        if (pty.text().includes("Stop bastion task")) pty.type("\r");
        await sleep(plan.delayMs);
        life.hit = pty.text().includes("Stopped bastion task") ? "after the stop" : "cleanup";
      } else life.hit = open ? "session" : "never open";
    }
  } finally {
    life.outputs.push({ source: "terminal", text: pty.text() });
    await pty.close();
    gone = await until(() => pty.processes().length === 0, 90_000, 100);
    life.notes.push(gone ? "terminal's processes gone" : `still running 90 s after the terminal closed: ${pty.processes().join("; ")}`);
  }
  if (!gone) throw new Error(`portforward outlived its terminal by 90 s: ${pty.processes().join("; ")}`);
};

// ---------------------------------------------------------------------------------------------
// Many lifecycles, in lanes of their own cloud

export interface ChaosRun {
  lifecycles: Lifecycle[];
  failures: string[];
}

export interface ChaosOptions {
  seeds: number[];
  lanes: number;
  /** How a seed becomes a plan; default planLifecycle. */
  plan?: (seed: number) => Plan;
  entrypoint?: string;
  onLifecycle?: (life: Lifecycle, index: number) => void;
}

/** Seeds for a run: CHAOS_SEEDS=1,2,3 replays those; else `count` from CHAOS_SEED (or a random base). */
export function chaosSeeds(count: number, env: NodeJS.ProcessEnv = process.env): { seeds: number[]; base?: number } {
  if (env.CHAOS_SEEDS) return { seeds: env.CHAOS_SEEDS.split(",").map((s) => Number(s.trim()) >>> 0) };
  const base = env.CHAOS_SEED ? Number(env.CHAOS_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 31);
  return { seeds: Array.from({ length: count }, (_, i) => (base + i) >>> 0), base };
}

export function failureReport(life: Lifecycle): string | undefined {
  const lines: string[] = [];
  if (life.error) lines.push(`  error: ${life.error}`);
  if (life.leftByProgram.length)
    lines.push(`  left behind by the program itself after a stop it could handle:`, ...life.leftByProgram.map((l) => `    - ${l}`));
  if (life.leftAfterSweep.length) lines.push(`  still there after cleanup-orphans --yes:`, ...life.leftAfterSweep.map((l) => `    - ${l}`));
  if (!lines.length) return undefined;
  const file = life.plan.kind === "terminal" ? "chaos-terminal" : "chaos";
  return [
    `lifecycle seed ${life.plan.seed}: ${describePlan(life.plan)}`,
    `  stop landed: ${life.hit || "?"}; ${life.notes.join(", ")}`,
    ...lines,
    `  replay: CHAOS_SEEDS=${life.plan.seed} npx vitest run test/reliability/${file}.test.ts`,
  ].join("\n");
}

export async function runChaos(options: ChaosOptions): Promise<ChaosRun> {
  const queue = options.seeds.map((seed, index) => ({ seed, index }));
  const lifecycles: Lifecycle[] = [];
  const failures: string[] = [];
  const lane = async () => {
    const world = await startChaosWorld(options.entrypoint);
    try {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const life = await runLifecycle(world, (options.plan ?? planLifecycle)(next.seed));
        lifecycles.push(life);
        const failure = failureReport(life);
        if (failure) failures.push(failure);
        options.onLifecycle?.(life, next.index);
      }
    } finally {
      await world.cloud.stop();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.lanes, options.seeds.length)) }, lane));
  return { lifecycles, failures };
}

/** Counts for the report: lifecycles by kind, stops by where they landed, faults injected by kind. */
export function summarize(lifecycles: Lifecycle[]) {
  const count = (keys: string[]) => keys.reduce<Record<string, number>>((acc, k) => ((acc[k] = (acc[k] ?? 0) + 1), acc), {});
  const injected: Record<string, number> = {};
  for (const l of lifecycles) for (const [k, v] of Object.entries(l.injected)) injected[k] = (injected[k] ?? 0) + v;
  return {
    lifecycles: lifecycles.length,
    byKind: count(lifecycles.map((l) => l.plan.kind)),
    stops: count(lifecycles.map((l) => `${stopLabel(l.plan)} @ ${l.hit || "?"}`)),
    // Ids masked, so that the same outcome counts as one line.
    notes: count(lifecycles.flatMap((l) => l.notes.map((n) => n.replace(/[0-9a-f]{8}-[0-9a-f-]{27}|mi-[0-9a-f]{17}/g, "…").slice(0, 160)))),
    injected,
    leaks: lifecycles.reduce((n, l) => n + l.leftByProgram.length + l.leftAfterSweep.length, 0),
    failed: lifecycles.filter((l) => failureReport(l)).length,
  };
}

// ---- where a stop landed, in the words of the report ----

/** The random delay before a stop, by kind and moment: registration is slower on a bastion; cleanup takes 100–500 ms. */
function delayRangeMs(kind: Plan["kind"], moment: Plan["moment"]): number {
  if (moment === "registration") return kind === "bastion" ? 4000 : 1200;
  return moment === "cleanup" ? 250 : 500;
}

function cleanupMoment(exited: boolean, cleanupDone: boolean): string {
  if (exited) return "after exit";
  return cleanupDone ? "after cleanup" : "cleanup";
}

function sessionMoment(exited: boolean, registered: boolean): string {
  if (exited) return "after exit";
  return registered ? "session" : "after failed registration";
}

function registrationMoment(ready: boolean, task: { lastStatus?: string } | undefined): string {
  if (ready) return "after ready";
  return task ? `registration (task ${task.lastStatus})` : "before RunTask answered";
}

function stopLabel(plan: Plan): string {
  if (plan.kind === "terminal") return `terminal closed in ${plan.moment}`;
  return plan.moment === "cleanup" ? "SIGKILL in cleanup" : String(plan.stop);
}

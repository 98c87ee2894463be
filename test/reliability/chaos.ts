// Lifecycle chaos: a bastion task (portforward) or a plain entrypoint process starts, registers,
// serves a tunnel and an exec, and stops — under random latency, throttling, 5xx and data-channel
// faults, with a SIGTERM, SIGINT, SIGKILL, StopTask or container crash at a random moment. Then:
//   1. a stop the program could handle (SIGTERM, SIGINT, StopTask) must leave nothing on its own;
//   2. after one `cleanup-orphans --yes`, nothing that belongs to the lifecycle may be left at all.
// Every choice comes from the lifecycle's seed, printed with any failure so it can be replayed
// (CHAOS_SEEDS=<seed> …); the timing of processes and sockets is not replayable, the plan is.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECSClient, StopTaskCommand } from "@aws-sdk/client-ecs";
import { seededRandom } from "../localcloud/faults.ts";
import { startLocalCloud, type FaultSpec, type LocalCloud, type State } from "../localcloud/index.ts";
import { REPO, startEntrypoint } from "../e2e/entrypoint-harness.ts";
import { startPortforward } from "../e2e/portforward-harness.ts";
import { databaseEndpoint } from "../support/bastion.ts";

export type Kind = "entrypoint" | "bastion";
export type Moment = "registration" | "session" | "cleanup";
/** How the lifecycle ends: a signal to the program, StopTask from outside, or the container killed whole. */
export type Stop = "SIGTERM" | "SIGINT" | "SIGKILL" | "StopTask" | "crash";

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
  const stops: Record<Kind, Record<Moment, readonly Stop[]>> = {
    entrypoint: { registration: ["SIGTERM", "SIGKILL"], session: ["SIGTERM", "SIGTERM", "SIGKILL"], cleanup: ["SIGKILL"] },
    bastion: {
      registration: ["SIGINT", "SIGTERM", "SIGKILL", "StopTask"],
      session: ["SIGINT", "SIGTERM", "SIGKILL", "StopTask", "crash"],
      cleanup: ["SIGKILL"],
    },
  };
  const stop = pick(random, stops[kind][moment]);
  // Cleanup takes 100–500 ms when nothing is slow: a kill 0–250 ms after it starts lands inside it.
  const delayMs = Math.floor(random() * (moment === "registration" ? (kind === "bastion" ? 4000 : 1200) : moment === "cleanup" ? 250 : 500));
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

/** A stop the program gets to handle: it must then leave nothing behind by itself. */
export function isGraceful(plan: Plan): boolean {
  return plan.moment !== "cleanup" && (plan.stop === "SIGTERM" || plan.stop === "SIGINT" || plan.stop === "StopTask");
}

export function describePlan(plan: Plan): string {
  const how = plan.moment === "cleanup" ? `${plan.kind === "bastion" ? "SIGINT" : "SIGTERM"}, then SIGKILL ${plan.delayMs} ms into the cleanup` : `${plan.stop} during ${plan.moment}`;
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

function tsx(script: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  return { child, out: () => out, err: () => err, exited, alive: () => child.exitCode === null && child.signalCode === null };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([promise, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  clearTimeout(timer);
  return result;
}

async function until(what: () => boolean | Promise<boolean>, ms: number, every = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await what()) return true;
    if (Date.now() > deadline) return false;
    await sleep(every);
  }
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
    if (t.startedBy?.startsWith("bastionless:") && t.lastStatus !== "STOPPED") items.set(`task ${t.taskId}`, `task ${t.taskId} ${t.lastStatus} (${t.family}, startedBy ${t.startedBy})`);
  }
  for (const a of s.activations) items.set(`activation ${a.activationId}`, `activation ${a.activationId} (${a.registrationsCount}/${a.registrationLimit} registrations, source ${a.tags["bastionless:source"] ?? "?"})`);
  for (const i of s.instances) items.set(`instance ${i.instanceId}`, `instance ${i.instanceId} ${i.pingStatus} (${i.name ?? "no name"}, source ${i.tags["bastionless:source"] ?? "?"})`);
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
  /** The copy of scripts/entrypoint.mts the plain-process lifecycles run. */
  entrypoint: string;
}

export async function startChaosWorld(entrypoint = join(REPO, "scripts/entrypoint.mts")): Promise<ChaosWorld> {
  const cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 300, pendingMs: 300 }, stopTimeoutMs: 10_000, connectionLostAfterMs: 3000 });
  return { cloud, dbHost: (await databaseEndpoint(cloud)).host, entrypoint };
}

async function injectedCounts(cloud: LocalCloud): Promise<Record<string, number>> {
  const res = (await (await fetch(`${cloud.endpoint}/_localcloud/faults/injected`)).json()) as { controlPlane: Record<string, number>; dataChannel?: Record<string, number> };
  return { ...res.controlPlane, ...Object.fromEntries(Object.entries(res.dataChannel ?? {}).map(([k, v]) => [`dataChannel.${k}`, v])) };
}

export async function runLifecycle(world: ChaosWorld, plan: Plan): Promise<Lifecycle> {
  const { cloud } = world;
  const started = Date.now();
  const before = await injectedCounts(cloud);
  const baseline = inventoryOf(await cloud.state());
  const life: Lifecycle = { plan, hit: "", notes: [], leftByProgram: [], leftAfterSweep: [], outputs: [], injected: {}, durationMs: 0 };
  const home = mkdtempSync(join(tmpdir(), `chaos-${plan.seed}-`));
  try {
    await cloud.setFaults(plan.faults);
    const run = plan.kind === "entrypoint" ? entrypointLifecycle : bastionLifecycle;
    const finished = await within(run(world, plan, life, home).then(() => true), 150_000);
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
  await until(async () => {
    const s = await cloud.state();
    const running = new Set(s.tasks.filter((t) => t.lastStatus === "RUNNING").map((t) => t.taskArn));
    return s.instances.every((i) => i.pingStatus !== "Online" || running.has(i.tags["bastionless:source"] ?? ""));
  }, 10_000, 200);
  // The sweep comes after the last call of the lifecycle has landed, as a cron run does.
  await until(quiet, 15_000, 50);
  const sweep = tsx(join(REPO, "scripts/cleanup-orphans.mts"), ["--yes", "--json", "--stale-after", "0s", "--task-ttl", "0s"], cloud.env);
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
  const run = startEntrypoint({ cloud, script: world.entrypoint, env: { BASTION_ENV: "chaos", BASTION_SHUTDOWN_TIMEOUT: "6s", HOME: home } });
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
        forward = tsx(join(REPO, "test/reliability/fixtures/client.mts"), ["forward", instanceId, world.dbHost, "5432"], cloud.env);
        const port = await until(() => forward!.out().includes("\n") || !forward!.alive(), 30_000);
        const ready = port && forward.out().startsWith("{") ? (JSON.parse(forward.out().split("\n")[0]) as { port: number }) : undefined;
        life.notes.push(ready && (await sslRequest(ready.port)) ? "tunnel ok" : "tunnel failed");
        const command = tsx(join(REPO, "test/reliability/fixtures/client.mts"), ["command", instanceId, `echo chaos-${plan.seed}`], cloud.env);
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
        life.hit = exited() ? "after exit" : has("cleanup_done") ? "after cleanup" : "cleanup";
        kill("SIGKILL");
      } else {
        life.hit = exited() ? "after exit" : instanceId ? "session" : "after failed registration";
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
  const pf = startPortforward(
    cloud,
    ["--env", "stg", "--yes", "--json", "--target", "stg-db", "--local-port", "0", "--task-definition", "stg-bastion", "--via", plan.via, "--client", "native", "--timeout", "60s"],
    { XDG_STATE_HOME: join(home, "state"), HOME: home, USER: `chaos-${plan.seed}` },
  );
  pf.ready.catch(() => undefined);
  const ecs = new ECSClient({ region: cloud.region, endpoint: cloud.endpoint, credentials: { accessKeyId: "localcloud", secretAccessKey: "localcloud" }, maxAttempts: 10 });
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
      life.hit = !alive() ? "after exit" : (await Promise.race([pf.ready.then(() => true, () => false), sleep(0).then(() => false)])) ? "after ready" : task ? `registration (task ${task.lastStatus})` : "before RunTask answered";
      if (plan.stop === "StopTask") {
        // StopTask needs a task: when the moment comes before RunTask's answer, it waits for the task.
        await until(async () => !alive() || Boolean(await ourTask()), 30_000);
        const launched = await ourTask();
        if (!task && launched) life.hit = `registration (task ${launched.lastStatus}, just launched)`;
        if (!(await stopTask())) life.hit = alive() ? "no task within 30 s" : "after exit";
      } else pf.child.kill(plan.stop as NodeJS.Signals);
    } else {
      const ready = await within(pf.ready.catch(() => undefined), 120_000);
      if (!ready) {
        life.hit = "portforward never ready";
        life.notes.push(`portforward failed: ${pf.stderr().trim().split("\n").at(-1) ?? ""}`);
      } else {
        life.notes.push("registered");
        life.notes.push((await sslRequest(ready.forwards[0].localPort)) ? "tunnel ok" : "tunnel failed");
        exec = tsx(join(REPO, "scripts/exec.mts"), ["--env", "stg", "--yes", "--task", ready.task, "--command", `echo chaos-${plan.seed}`, "--client", "native"], {
          ...cloud.env,
          HOME: home,
          XDG_STATE_HOME: join(home, "state"),
        });
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

// ---------------------------------------------------------------------------------------------
// Many lifecycles, in lanes of their own cloud

export interface ChaosRun {
  lifecycles: Lifecycle[];
  failures: string[];
}

export interface ChaosOptions {
  seeds: number[];
  lanes: number;
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
  if (life.leftByProgram.length) lines.push(`  left behind by the program itself after a stop it could handle:`, ...life.leftByProgram.map((l) => `    - ${l}`));
  if (life.leftAfterSweep.length) lines.push(`  still there after cleanup-orphans --yes:`, ...life.leftAfterSweep.map((l) => `    - ${l}`));
  if (!lines.length) return undefined;
  return [`lifecycle seed ${life.plan.seed}: ${describePlan(life.plan)}`, `  stop landed: ${life.hit || "?"}; ${life.notes.join(", ")}`, ...lines, `  replay: CHAOS_SEEDS=${life.plan.seed} npx vitest run test/reliability/chaos.test.ts`].join("\n");
}

export async function runChaos(options: ChaosOptions): Promise<ChaosRun> {
  const queue = options.seeds.map((seed, index) => ({ seed, index }));
  const lifecycles: Lifecycle[] = [];
  const failures: string[] = [];
  const lane = async () => {
    const world = await startChaosWorld(options.entrypoint);
    try {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const life = await runLifecycle(world, planLifecycle(next.seed));
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
    stops: count(lifecycles.map((l) => `${l.plan.moment === "cleanup" ? "SIGKILL in cleanup" : l.plan.stop} @ ${l.hit || "?"}`)),
    // Ids masked, so that the same outcome counts as one line.
    notes: count(lifecycles.flatMap((l) => l.notes.map((n) => n.replace(/[0-9a-f]{8}-[0-9a-f-]{27}|mi-[0-9a-f]{17}/g, "…").slice(0, 160)))),
    injected,
    leaks: lifecycles.reduce((n, l) => n + l.leftByProgram.length + l.leftAfterSweep.length, 0),
    failed: lifecycles.filter((l) => failureReport(l)).length,
  };
}

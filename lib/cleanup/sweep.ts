// One run of the sweeper: its flags checked (one line naming every problem), then per region an
// inventory read and planned, and — once confirmed — every region's plan applied.
import { awsNow, createClients, requireRegion, type AwsClients } from "../aws/clients.ts";
import { envConfig, loadConfig, type Config } from "../config.ts";
import { parseDuration } from "../duration.ts";
import { UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { applyPlan, shortId, type Outcome } from "./apply.ts";
import type { CleanupFlags } from "./cli.ts";
import { readInventory } from "./inventory.ts";
import { planCleanup, type Decision, type Plan } from "./plan.ts";

export interface Sweep {
  staleAfterMs: number;
  taskTtlMs: number;
  concurrency: number;
  envs: string[];
  /** --region, else the first env's region from the config; none: the SDK's default region. */
  regions: string[];
  profile: string | undefined;
  config: Config | undefined;
}

export interface RegionPlan {
  region: string;
  plan: Plan;
  clients: AwsClients;
}

/** The flags are checked before the config file is read: a mistyped flag is the line the user sees. */
export function resolveSweep(flags: CleanupFlags): Sweep {
  const staleAfterMs = parseDuration(flags["stale-after"]);
  const taskTtlMs = parseDuration(flags["task-ttl"]);
  const concurrency = Number(flags.concurrency);
  const problems = [
    staleAfterMs === undefined ? `--stale-after ${flags["stale-after"]} is not a duration (e.g. 30m)` : "",
    taskTtlMs === undefined ? `--task-ttl ${flags["task-ttl"]} is not a duration (e.g. 12h)` : "",
    !Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64 ? `--concurrency ${flags.concurrency} must be an integer from 1 to 64` : "",
    flags["dry-run"] && flags.yes ? "--dry-run and --yes contradict each other: pick one" : "",
  ].filter(Boolean);
  if (problems.length) throw new UsageError(problems.join("; ") + ".");
  const config = loadConfig();
  const envs = flags.env ?? [];
  const defaults = envConfig(config, envs[0]);
  const regions = flags.region?.length ? flags.region : [defaults.region].filter((r): r is string => Boolean(r));
  return { staleAfterMs: staleAfterMs!, taskTtlMs: taskTtlMs!, concurrency, envs, regions, profile: flags.profile ?? defaults.profile, config };
}

/** Each region's inventory and plan, with the clients that will apply it (the SDK's adaptive retries: a sweep is not in a hurry). */
export async function planRegions(sweep: Sweep): Promise<RegionPlan[]> {
  const plans: RegionPlan[] = [];
  for (const region of sweep.regions.length ? sweep.regions : [undefined]) {
    const clients = createClients({ profile: sweep.profile, region, retryMode: "adaptive", maxAttempts: 10 });
    const resolved = await requireRegion(clients, region);
    const inventory = await readInventory(clients, { region: resolved, envs: sweep.envs, concurrency: sweep.concurrency });
    plans.push({
      region: resolved,
      plan: planCleanup(inventory, { now: awsNow(clients.ssm), staleAfterMs: sweep.staleAfterMs, taskTtlMs: sweep.taskTtlMs }),
      clients,
    });
  }
  return plans;
}

/** Every region's plan applied in turn, each outcome logged as it comes. */
export async function applyPlans(plans: RegionPlan[], concurrency: number, log: Logger): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const { plan, clients } of plans) {
    const onOutcome = (o: Outcome) =>
      log.event("cleanup.item", { ...o, level: o.ok ? "info" : "error", message: `${o.ok ? "✓" : "✗"} ${o.action} ${o.kind} ${shortId(o)}: ${o.detail}` });
    outcomes.push(...(await applyPlan(clients, plan, { concurrency, onOutcome })));
    clients.destroy();
  }
  return outcomes;
}

/** What every region's plan does, and what it keeps. */
export function together(plans: RegionPlan[]): { actions: Decision[]; kept: Decision[] } {
  return { actions: plans.flatMap((p) => p.plan.actions), kept: plans.flatMap((p) => p.plan.kept) };
}

// cleanup-orphans: removes what crashed containers and forgotten tunnels left behind — managed
// instances, activations, parameters, bastion tasks — and nothing without our managed-by tag.
// list → plan → print → (dry run stops here) → confirm or --yes → apply (STYLE.md §5).
import { confirm } from "@inquirer/prompts";
import { Declined, EXIT_FAILURE, EXIT_OK, UsageError, parseFlags, runMain, usage } from "../lib/cli.ts";
import { awsNow, createClients, requireRegion } from "../lib/aws/clients.ts";
import { createLogger } from "../lib/log.ts";
import { parseDuration } from "../lib/duration.ts";
import { describeScope, envConfig, loadConfig } from "../lib/config.ts";
import { planCleanup, type Decision, type Plan } from "../lib/orphans.ts";
import { applyPlan, readInventory, shortId, type Outcome } from "../lib/sweep.ts";
import { cli } from "../lib/cleanup/cli.ts";

type CleanupFlags = ReturnType<typeof parseFlags<typeof cli.flags>>;

await runMain(async () => {
  const flags = parseFlags(cli, process.argv.slice(2));
  if (flags.help) return void process.stdout.write(usage(cli));
  const settings = checkFlags(flags);
  const config = loadConfig();
  const log = createLogger({ format: flags.json || !process.stderr.isTTY ? "json" : "human", debug: flags.debug, base: { program: "cleanup-orphans" } });
  const regions = settings.regions.length ? settings.regions : [envConfig(config, settings.envs[0]).region].filter((r): r is string => Boolean(r));
  const profile = flags.profile ?? envConfig(config, settings.envs[0]).profile;

  const plans: Array<{ region: string; plan: Plan; clients: ReturnType<typeof createClients> }> = [];
  for (const region of regions.length ? regions : [undefined]) {
    const clients = createClients({ profile, region, retryMode: "adaptive", maxAttempts: 10 });
    const resolved = await requireRegion(clients, region);
    const inventory = await readInventory(clients, { region: resolved, envs: settings.envs, concurrency: settings.concurrency });
    plans.push({ region: resolved, plan: planCleanup(inventory, { now: awsNow(clients.ssm), staleAfterMs: settings.staleAfterMs, taskTtlMs: settings.taskTtlMs }), clients });
  }
  const actions = plans.flatMap((p) => p.plan.actions);
  const kept = plans.flatMap((p) => p.plan.kept);

  const dryRun = flags["dry-run"] || (!flags.yes && !process.stdin.isTTY);
  if (!flags.json) printPlan(actions, kept);
  if (dryRun || actions.length === 0) {
    if (flags.json) printJson(actions, kept, [], dryRun);
    else process.stdout.write(actions.length ? `Dry run: nothing changed. Run with --yes to apply ${actions.length} action(s).\n` : "Nothing to clean up.\n");
    return EXIT_OK;
  }
  log.info(describeScope({ configPath: config?.path, env: settings.envs.join(","), profile: profile ?? process.env.AWS_PROFILE, region: plans.map((p) => p.region).join(",") }));
  if (!flags.yes && !(await confirm({ message: `Apply ${actions.length} action(s)?`, default: false }))) throw new Declined();

  const outcomes: Outcome[] = [];
  for (const { plan, clients } of plans) {
    outcomes.push(...(await applyPlan(clients, plan, { concurrency: settings.concurrency, onOutcome: (o) => log.event("cleanup.item", { ...o, level: o.ok ? "info" : "error", message: `${o.ok ? "✓" : "✗"} ${o.action} ${o.kind} ${shortId(o)}: ${o.detail}` }) })));
    clients.destroy();
  }
  const failed = outcomes.filter((o) => !o.ok);
  if (flags.json) printJson(actions, kept, outcomes, false);
  else {
    process.stdout.write(`Done: ${outcomes.length - failed.length} succeeded, ${failed.length} failed.\n`);
    for (const f of failed) process.stdout.write(`  failed: ${f.action} ${f.kind} ${shortId(f)} — ${f.detail}\n`);
    if (failed.length) process.stdout.write("Run cleanup-orphans again to retry what failed.\n");
  }
  return failed.length ? EXIT_FAILURE : EXIT_OK;
}, { name: "cleanup-orphans" });

function checkFlags(flags: CleanupFlags) {
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
  return { staleAfterMs: staleAfterMs!, taskTtlMs: taskTtlMs!, concurrency, envs: flags.env ?? [], regions: flags.region ?? [] };
}

function printPlan(actions: Decision[], kept: Decision[]): void {
  const rows = [...actions, ...kept].map((d) => [d.kind, shortId(d), d.env ?? "-", d.region, d.action, d.reason]);
  if (!rows.length) return;
  const header = ["KIND", "ID", "ENV", "REGION", "ACTION", "REASON"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ") + "\n";
  process.stdout.write(line(header) + rows.map(line).join(""));
}

function printJson(actions: Decision[], kept: Decision[], outcomes: Outcome[], dryRun: boolean): void {
  const count = (list: Decision[], key: "kind" | "action") => list.reduce<Record<string, number>>((acc, d) => ({ ...acc, [d[key]]: (acc[d[key]] ?? 0) + 1 }), {});
  process.stdout.write(
    JSON.stringify({
      dryRun,
      plan: { actions, kept },
      results: outcomes,
      counts: {
        planned: actions.length,
        kept: kept.length,
        byKind: count(actions, "kind"),
        succeeded: outcomes.filter((o) => o.ok).length,
        failed: outcomes.filter((o) => !o.ok).length,
      },
    }) + "\n",
  );
}

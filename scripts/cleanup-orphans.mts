// cleanup-orphans: removes what crashed containers and forgotten tunnels left behind — managed
// instances, activations, parameters, bastion tasks — and nothing without our managed-by tag.
// list → plan → print → (dry run stops here) → confirm or --yes → apply.
import { EXIT_FAILURE, EXIT_OK, parseFlags, runMain, usage } from "../lib/cli.ts";
import { describeScope } from "../lib/config.ts";
import { Declined } from "../lib/errors.ts";
import { createLogger } from "../lib/log.ts";
import { canPrompt, confirm } from "../lib/prompts.ts";
import { applyPlans, cli, planRegions, printJson, printPlan, printResults, resolveSweep, together } from "../lib/cleanup/index.ts";

await runMain(
  async () => {
    const flags = parseFlags(cli, process.argv.slice(2));
    if (flags.help) return void process.stdout.write(usage(cli));
    const sweep = resolveSweep(flags);
    const log = createLogger({ format: flags.json || !process.stderr.isTTY ? "json" : "human", debug: flags.debug, base: { program: "cleanup-orphans" } });
    const plans = await planRegions(sweep);
    const { actions, kept } = together(plans);

    // Without a person to ask (stdin and stderr, where the question is drawn, both terminals) it is a dry run.
    const dryRun = flags["dry-run"] || (!flags.yes && !canPrompt(false));
    if (!flags.json) printPlan(actions, kept);
    if (dryRun || actions.length === 0) {
      if (flags.json) printJson(actions, kept, [], dryRun);
      else process.stdout.write(actions.length ? `Dry run: nothing changed. Run with --yes to apply ${actions.length} action(s).\n` : "Nothing to clean up.\n");
      return EXIT_OK;
    }
    log.info(
      describeScope({
        configPath: sweep.config?.path,
        env: sweep.envs.join(","),
        profile: sweep.profile ?? process.env.AWS_PROFILE,
        region: plans.map((p) => p.region).join(","),
      }),
    );
    // A closed terminal cancels the question (nothing is applied); Ctrl-C at it is a quiet 130.
    if (!flags.yes && !(await confirm({ interactive: true }, `Apply ${actions.length} action(s)?`, false))) throw new Declined();

    const outcomes = await applyPlans(plans, sweep.concurrency, log);
    if (flags.json) printJson(actions, kept, outcomes, false);
    else printResults(outcomes);
    return outcomes.some((o) => !o.ok) ? EXIT_FAILURE : EXIT_OK;
  },
  { name: "cleanup-orphans" },
);

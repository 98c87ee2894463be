// portforward (`make tunnel ENV=stg`): a throw-away bastion task with a service's network settings,
// local ports to a database (or any host:port) through Session Manager once the task is really
// ready — no fixed sleep —, and at the end the task stopped and proof that nothing was left.
import { parseFlags, runMain, usage } from "../lib/cli.ts";
import {
  checkThisMachine,
  cli,
  launchOrReuseBastion,
  selectForwards,
  selectPlacement,
  startRun,
  stopOrKeepBastion,
  tunnelThrough,
} from "../lib/portforward/index.ts";

await runMain(
  async () => {
    const flags = parseFlags(cli, process.argv.slice(2));
    if (flags.help) return void process.stdout.write(usage(cli));
    const run = await startRun(flags);
    try {
      const placement = await selectPlacement(run);
      const forwards = await selectForwards(run);
      await checkThisMachine(run, forwards);
      const task = await launchOrReuseBastion(run, placement);
      const outcome = await tunnelThrough(run, task, forwards).catch((error: unknown) => ({ kind: "error" as const, error }));
      const code = await stopOrKeepBastion(run, task, outcome);
      if (outcome.kind === "error") throw outcome.error;
      if (outcome.kind !== "closed") throw new Error(`The tunnel ended: ${outcome.message}.`);
      return code;
    } finally {
      run.interrupts.dispose();
      run.clients.destroy();
      run.file.close();
    }
  },
  { name: "portforward" },
);

// exec: ECS Exec into a task's container — finds the task for you, records the command in a local
// audit log before it runs, and explains with pre-flight checks why ECS Exec fails when it does.
// allow-list → cluster → task → container → (--check stops here) → audit → session.
import { EXIT_FAILURE, EXIT_OK, parseFlags, runMain, usage } from "../lib/cli.ts";
import { createClients, requireRegion } from "../lib/aws/clients.ts";
import { canPrompt } from "../lib/prompts.ts";
import { cli, findTarget, reportChecks, resolveRequest, runSession, secretWarning } from "../lib/exec/index.ts";

await runMain(
  async () => {
    const flags = parseFlags(cli, process.argv.slice(2));
    if (flags.help) return void process.stdout.write(usage(cli));
    const request = resolveRequest(flags);
    const clients = createClients({ profile: request.profile, region: flags.region ?? request.settings.region });
    try {
      const region = await requireRegion(clients);
      const note = (line: string) => process.stderr.write(line + "\n");
      const warning = secretWarning(request.command);
      if (warning) note(warning);

      const found = await findTarget(clients.ecs, { interactive: canPrompt(flags.yes), note }, request, region);
      if (flags.check) return (await reportChecks(clients, found, { client: request.client, out: process.stdout })) ? EXIT_OK : EXIT_FAILURE;

      return await runSession({ request, clients, region, found, note });
    } finally {
      clients.destroy();
    }
  },
  { name: "exec" },
);

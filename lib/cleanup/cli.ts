// cleanup-orphans' CLI, declared once: scripts/cleanup-orphans.mts parses it; `bastionless cleanup` and the
// shell completion read the same flags without running the program.
import { AWS_FLAGS, SHARED_FLAGS, defineCli, type Flags } from "../cli.ts";

export const cli = defineCli({
  name: "cleanup-orphans",
  summary: "Find and remove orphaned managed instances, activations, parameters and bastion tasks left by bastionless.",
  flags: {
    ...AWS_FLAGS,
    env: {
      ...SHARED_FLAGS.env,
      multiple: true,
      description: "only this env: the clusters whose names carry it as a word, and what is tagged with it (default: every env)",
    },
    region: { ...SHARED_FLAGS.region, multiple: true, description: "region to sweep (several in one run allowed)" },
    "stale-after": {
      type: "string",
      default: "30m",
      placeholder: "duration",
      description: "remove instances disconnected and activations unused for longer than this",
    },
    "task-ttl": { type: "string", default: "12h", placeholder: "duration", description: "stop bastion tasks running longer than this" },
    "dry-run": { type: "boolean", description: "print the plan and change nothing (the default without a terminal, unless --yes)" },
    yes: { ...SHARED_FLAGS.yes, description: "apply without asking" },
    json: { type: "boolean", description: "print one JSON document (plan, results, counts) instead of tables" },
    concurrency: { type: "string", default: "4", placeholder: "n", description: "AWS calls in flight" },
  },
  details: `Examples:
  bastionless cleanup --dry-run             # what would be removed, in every env
  bastionless cleanup --env stg --yes       # remove stg's orphans
  */15 * * * * cd /srv/ops && bastionless cleanup --yes --json >> /var/log/bastionless-cleanup.jsonl

Exit: 0 when every planned action succeeded (or nothing was planned), 1 when any failed, 2 on usage errors.`,
});

export type CleanupFlags = Flags<typeof cli.flags>;

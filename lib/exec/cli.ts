// exec's CLI, declared once: scripts/exec.mts parses it; `bastionless exec` and the shell completion read
// the same flags without running the program.
import { AWS_FLAGS, SHARED_FLAGS, defineCli, type Flags } from "../cli.ts";
import { auditLogPath } from "./audit.ts";
import { DEFAULT_SHELL } from "./command.ts";

export const cli = defineCli({
  name: "exec",
  summary: "ECS Exec into a running task's container: target discovery, an audit record, and pre-flight checks that explain failures.",
  flags: {
    ...AWS_FLAGS,
    cluster: { type: "string", description: "ECS cluster (default: the env's, else asked)" },
    service: { type: "string", description: "service whose RUNNING tasks are offered" },
    task: { type: "string", description: "task id or ARN (skips the service)" },
    container: { type: "string", description: "container (asked only when the task has several)" },
    command: { type: "string", placeholder: "command", description: `what to run (default: the env's exec.shell, else ${DEFAULT_SHELL})` },
    client: SHARED_FLAGS.client,
    check: { type: "boolean", description: "run the pre-flight checks on the target and exit (0 when none failed)" },
    yes: SHARED_FLAGS.yes,
  },
  details: `Examples:
  make exec ENV=stg                                      # pick service, task, container; open a shell
  make exec ENV=prod ARGS="--check"                      # why does ECS Exec fail on this task?
  bastionless exec --env stg --yes --task 5f2e… --command 'bin/rails runner "p User.count"'

A command other than a bare shell is wrapped, /bin/sh -c '<printf "# bastionless exec <id>: <command>">; <command>'
(the exact form is in docs/exec.md), so the cluster's session transcript shows the command line. Every run is recorded first in
${auditLogPath()} (0600). bastionless.config.json's envs.<env>.exec.allow restricts --command.

Exit: 0 the session ended normally (or --check found nothing failing), 1 it failed (the pre-flight
report says why), 2 usage errors and refused commands, 130 interrupted.`,
});

export type ExecFlags = Flags<typeof cli.flags>;

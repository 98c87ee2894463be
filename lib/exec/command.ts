// What exec sends as ECS Exec's `command`: the allow-list decision and the wrapping that puts the
// command line itself into the cluster's session transcript (seed 004: a non-interactive command's
// transcript showed its output but never the command).
import { UsageError } from "../cli.ts";

export const DEFAULT_SHELL = "/bin/sh";

/** Whitespace runs collapse to one space, ends trimmed: "rails  console " is "rails console". */
export function normalizeCommand(command: string): string {
  return command.trim().replace(/\s+/g, " ");
}

/**
 * Throws a UsageError (exit 2) unless `command` is on the env's allow-list. Matching is exact after
 * normalizeCommand: "rails console" does not allow "rails console; rm -rf /" (the command runs in a shell).
 */
export function assertAllowed(command: string, allow: string[] | undefined, where: { env?: string; configPath?: string }): void {
  if (!allow) return;
  const wanted = normalizeCommand(command);
  if (allow.some((a) => normalizeCommand(a) === wanted)) return;
  const key = where.env ? `envs.${where.env}.exec.allow` : "defaults.exec.allow";
  // One line, like every error: the list is quoted, comma-separated.
  const list = allow.length ? allow.map((a) => JSON.stringify(a)).join(", ") : "none (the list is empty)";
  throw new UsageError(
    `The command ${JSON.stringify(command)} is not allowed${where.env ? ` in env ${where.env}` : ""}; nothing was run. ` +
      `Allowed commands (${key}${where.configPath ? ` in ${where.configPath}` : ""}): ${list}. ` +
      `Pass one of them exactly with --command, or ask for it to be added to the list.`,
  );
}

const SHELL = /^(\/usr)?(\/bin\/)?(sh|bash|zsh|ash|dash|ksh)( -l| -i| --login)?$/;

/** A bare interactive shell: its transcript already shows every line typed, so it is sent as it is. */
export function isInteractiveShell(command: string, defaultShell: string = DEFAULT_SHELL): boolean {
  const c = normalizeCommand(command);
  return c === normalizeCommand(defaultShell) || SHELL.test(c);
}

export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command ECS Exec receives. A bare shell goes as it is. Anything else becomes
 *   /bin/sh -c '<printf the banner>; <command>'
 * so the transcript's first line is `# bastionless exec <auditId>: <command>` (the command line,
 * tied to the local audit record), and the command runs in a shell (`;`, pipes and `$VAR` work, as
 * they do for `aws ecs execute-command --command "sh -c '…'"`).
 */
export function wrapCommand(command: string, options: { auditId: string; defaultShell?: string }): string {
  if (isInteractiveShell(command, options.defaultShell)) return normalizeCommand(command);
  const banner = `# bastionless exec ${options.auditId}: ${command}`;
  return `/bin/sh -c ${shellQuote(`printf '%s\\n' ${shellQuote(banner)}; ${command}`)}`;
}

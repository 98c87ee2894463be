// What exec sends as ECS Exec's `command`: the allow-list decision and the wrapping that puts the
// command line itself into the cluster's session transcript (a non-interactive command's
// transcript shows its output but never the command).
//
// The allow-list is a guard rail, not the enforcement: anyone with ecs:ExecuteCommand can run the AWS
// CLI instead. What it promises it keeps: the raw command is compared (only spaces and tabs fold, a
// control character never matches: `sh\n/app/x` runs two lines in /bin/sh -c), and a list binds
// its env: with lists in the config, --env must name a configured env and the cluster must be its.
import { UsageError } from "../errors.ts";
import type { Config, EnvConfig } from "../config.ts";
import { escapeControl } from "../log.ts";
import { belongsToEnv } from "../envs.ts";

export const DEFAULT_SHELL = "/bin/sh";

/** Space and tab runs collapse to one space, ends trimmed: "rails  console " is "rails console". Nothing else changes. */
export function normalizeCommand(command: string): string {
  return command.replace(/^[ \t]+|[ \t]+$/g, "").replace(/[ \t]+/g, " ");
}

// C0 (tab aside, which folds like a space), DEL and C1: a line break, an escape, a backspace.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;

/**
 * Throws a UsageError (exit 2) unless `command` is on the env's allow-list. Matching is exact after
 * normalizeCommand: "rails console" does not allow "rails console; rm -rf /" (the command runs in a
 * shell), and a command with a control character is never on a list.
 */
export function assertAllowed(command: string, allow: string[] | undefined, where: { env?: string; configPath?: string }): void {
  if (!allow) return;
  const wanted = normalizeCommand(command);
  const control = CONTROL.exec(command)?.[0];
  if (!control && allow.some((a) => normalizeCommand(a) === wanted)) return;
  const key = where.env ? `envs.${where.env}.exec.allow` : "defaults.exec.allow";
  // One line, like every error: the list is quoted, comma-separated.
  const list = allow.length ? allow.map((a) => JSON.stringify(a)).join(", ") : "none (the list is empty)";
  const why = control
    ? `: it contains a control character (U+${control.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}), which no list entry matches`
    : "";
  throw new UsageError(
    `The command ${JSON.stringify(command)} is not allowed${where.env ? ` in env ${where.env}` : ""}${why}; nothing was run. ` +
      `Allowed commands (${key}${where.configPath ? ` in ${where.configPath}` : ""}): ${list}. ` +
      `Pass one of them exactly with --command, or ask for it to be added to the list.`,
  );
}

/** The configured envs that restrict exec with an `exec.allow` list. */
export function envsWithAllowList(config: Config | undefined): string[] {
  return config
    ? Object.keys(config.envs)
        .filter((env) => config.envs[env].exec?.allow !== undefined)
        .sort()
    : [];
}

/**
 * When any env of the config has an allow-list, `env` must be one of the config's envs: leaving
 * --env out, or a typo, would otherwise skip every list. Returns whether the lists are in force.
 */
export function assertEnvForAllowLists(config: Config | undefined, env: string | undefined): boolean {
  const guarded = envsWithAllowList(config);
  if (!config || !guarded.length) return false;
  const known = Object.keys(config.envs).sort();
  const restricts = `${config.path} restricts exec commands per env (exec.allow in ${guarded.join(", ")})`;
  if (!env) throw new UsageError(`Missing --env: ${restricts}. Pass --env with one of ${known.join(", ")} (or set BASTION_ENV); nothing was run.`);
  if (!config.envs[env])
    throw new UsageError(
      `--env ${env} is not an env of ${config.path}, which restricts exec commands per env (exec.allow in ${guarded.join(", ")}): pass --env with one of ${known.join(", ")}; nothing was run.`,
    );
  return true;
}

/**
 * With allow-lists in force, the cluster must be the env's — its configured cluster, or one whose
 * name carries the env (belongsToEnv) — so that one env's list never applies to another's tasks.
 */
export function assertClusterOfEnv(cluster: string, env: string, config: Config): void {
  const own: EnvConfig = config.envs[env] ?? {};
  if (cluster === own.cluster || belongsToEnv(cluster, env)) return;
  const owners = Object.keys(config.envs)
    .filter((e) => e !== env && (config.envs[e].cluster === cluster || belongsToEnv(cluster, e)))
    .sort();
  throw new UsageError(
    `Cluster ${cluster} is not env ${env}'s, so env ${env}'s exec rules (${config.path}) cannot apply to it; nothing was run. ` +
      (owners.length
        ? `Pass --env ${owners[0]} for a task of ${cluster}, or a task of env ${env}.`
        : `Pass a cluster or task of env ${env}, or the --env whose cluster it is.`),
  );
}

const SHELL = /^(\/usr)?(\/bin\/)?(sh|bash|zsh|ash|dash|ksh)( -l| -i| --login)?$/;

/**
 * An interactive shell reads its commands from the terminal: without one (cron, CI, a pipe) it would
 * sit at its prompt for ever. A usage error (exit 2) before any AWS call, naming the way out.
 */
export function assertShellHasTerminal(command: string, stdin: { isTTY?: boolean }): void {
  if (stdin.isTTY || !isInteractiveShell(command)) return;
  throw new UsageError(
    `${normalizeCommand(command)} is an interactive shell and stdin is not a terminal, so it would wait for input for ever; nothing was run. Pass --command with what to run (e.g. --command 'ls -la /app'), or run exec from a terminal.`,
  );
}

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
/** The first line a wrapped command prints. Escaped, so that a terminal replaying the transcript shows the command that runs, not one drawn over it. */
export function bannerLine(command: string, auditId: string): string {
  return `# bastionless exec ${auditId}: ${escapeControl(command)}`;
}

export function wrapCommand(command: string, options: { auditId: string; defaultShell?: string }): string {
  if (isInteractiveShell(command, options.defaultShell)) return normalizeCommand(command);
  const banner = bannerLine(command, options.auditId);
  return `/bin/sh -c ${shellQuote(`printf '%s\\n' ${shellQuote(banner)}; ${command}`)}`;
}

// What the user asked exec for, settled before any AWS call: flags over the env's config, the
// command checked against the env's allow-list, the client named, a shell refused without a terminal.
import { choiceProblem } from "../cli.ts";
import { envConfig, loadConfig, type Config, type EnvConfig } from "../config.ts";
import { CLIENT_CHOICES } from "../config-schema.ts";
import { UsageError } from "../errors.ts";
import { findSecretShape } from "../log.ts";
import type { ClientChoice } from "../session/index.ts";
import type { ExecFlags } from "./cli.ts";
import { DEFAULT_SHELL, assertAllowed, assertEnvForAllowLists, assertShellHasTerminal } from "./command.ts";

export interface ExecRequest {
  flags: ExecFlags;
  config: Config | undefined;
  /** The config has allow-lists: the env is required and every cluster must be the env's. */
  guarded: boolean;
  settings: EnvConfig;
  command: string;
  client: ClientChoice;
  profile: string | undefined;
}

export function resolveRequest(flags: ExecFlags): ExecRequest {
  const config = loadConfig();
  const guarded = assertEnvForAllowLists(config, flags.env);
  const settings = envConfig(config, flags.env);
  const command = flags.command ?? settings.exec?.shell ?? DEFAULT_SHELL;
  assertAllowed(command, settings.exec?.allow, { env: flags.env, configPath: config?.path });
  const client = checkClient(flags.client ?? settings.client ?? "auto");
  if (!flags.check) assertShellHasTerminal(command, process.stdin);
  return { flags, config, guarded, settings, command, client, profile: flags.profile ?? settings.profile };
}

/** The warning for a command that carries what looks like a secret: it is recorded as typed in three places. */
export function secretWarning(command: string): string | undefined {
  const shape = findSecretShape(command);
  return shape
    ? `warning: The command carries what looks like ${shape}: it is recorded as typed in the audit log, the cluster's session transcript and CloudTrail. Pass secrets through the task's environment or secrets instead.`
    : undefined;
}

function checkClient(value: string): ClientChoice {
  const problem = choiceProblem("--client", value, CLIENT_CHOICES);
  if (problem) throw new UsageError(`${problem}.`);
  return value as ClientChoice;
}

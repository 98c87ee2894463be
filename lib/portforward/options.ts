// portforward's settings: flags (with their env fallbacks, already applied by parseFlags) beat the
// env's bastionless.config.json keys; everything is checked before any AWS call.
import { choiceProblem } from "../cli.ts";
import { MAX_SESSIONS } from "../constants.ts";
import { UsageError } from "../errors.ts";
import type { EnvConfig } from "../config.ts";
import { CLIENT_CHOICES, VIA_CHOICES } from "../config-schema.ts";
import { parseDuration } from "../duration.ts";
import type { ClientChoice } from "../session/index.ts";
import { parseForward, parsePort, type PlannedForward } from "./forwards.ts";
import type { Via } from "./readiness.ts";

export interface PortforwardFlags {
  profile?: string;
  region?: string;
  cluster?: string;
  service?: string;
  "task-definition"?: string;
  target?: string;
  "local-port"?: string;
  forward?: string[];
  via?: string;
  client?: string;
  sessions?: string;
  timeout?: string;
  reuse: boolean;
  keep: boolean;
  stop: boolean;
  yes: boolean;
  json: boolean;
}

/** The env's config keys as this run resolved them (flag, env var, config); localPort undefined = the target's port + 10000. */
export interface Settings extends Pick<EnvConfig, "profile" | "region" | "cluster" | "service" | "target" | "localPort"> {
  env: string;
  /** --task-definition, else the config's, else `<env>-bastion` (never the service's own unless named). */
  taskDefinition: string;
  /** True when taskDefinition is the `<env>-bastion` default, named by neither flag nor config. */
  taskDefinitionDefaulted: boolean;
  /** --forward, else the config's forwards. */
  forwards: PlannedForward[];
  via: Via;
  client: ClientChoice;
  /** Sessions per forward: --sessions, else the config's, else DEFAULT_SESSIONS (1 with the plugin). */
  sessions: number;
  timeoutMs: number;
  reuse: boolean;
  /** The answer to "Stop bastion task …?" given up front: --keep, --stop, --yes. */
  stopAnswer?: boolean;
  json: boolean;
}

export const DEFAULT_TIMEOUT = "5m";
/** Sessions per forward when neither --sessions nor the config says (docs/portforward.md, "Sessions per forward", has the measurements). */
export const DEFAULT_SESSIONS = 4;

/** The bastion task definition of an env when none is named: `<env>-bastion` (docker/bastion). */
export function defaultBastion(env: string): string {
  return `${env}-bastion`;
}

export function resolveSettings(env: string, flags: PortforwardFlags, config: EnvConfig): Settings {
  const problems: string[] = [];
  const via = flags.via ?? config.via ?? "auto";
  const client = flags.client ?? config.client ?? "auto";
  for (const problem of [choiceProblem("--via", via, VIA_CHOICES), choiceProblem("--client", client, CLIENT_CHOICES)]) if (problem) problems.push(problem);
  const timeoutText = flags.timeout ?? config.timeout ?? DEFAULT_TIMEOUT;
  const timeoutMs = parseDuration(timeoutText);
  if (timeoutMs === undefined || timeoutMs <= 0) problems.push(`--timeout ${timeoutText} is not a duration (e.g. 90s, 5m)`);
  if (flags.keep && flags.stop) problems.push("--keep and --stop contradict each other: pick one");
  const sessions = resolveSessions(flags.sessions, config.sessions, client, problems);
  if (problems.length) throw new UsageError(problems.join("; ") + ".");
  const localPort = flags["local-port"] !== undefined ? parsePort(flags["local-port"], "--local-port") : config.localPort;
  const forwards = (flags.forward?.length ? flags.forward : (config.forwards ?? [])).map(parseForward);
  return {
    env,
    profile: flags.profile ?? config.profile,
    region: flags.region ?? config.region,
    cluster: flags.cluster ?? config.cluster,
    service: flags.service ?? config.service,
    // A service's own task definition is the app: its CMD, secrets and size (a worker consumes, an app migrates on boot).
    taskDefinition: flags["task-definition"] ?? config.taskDefinition ?? defaultBastion(env),
    taskDefinitionDefaulted: flags["task-definition"] === undefined && config.taskDefinition === undefined,
    // --forward alone means "these tunnels only": the config's default target is not added to them.
    target: flags.target ?? (flags.forward?.length ? undefined : config.target),
    localPort,
    forwards,
    via: via as Via,
    client: client as ClientChoice,
    sessions,
    timeoutMs: timeoutMs!,
    reuse: flags.reuse,
    stopAnswer: stopAnswerOf(flags),
    json: flags.json,
  };
}

/**
 * --sessions N (1 to MAX_SESSIONS), else the config's `sessions`, else DEFAULT_SESSIONS. With
 * --client plugin only 1: a plugin whose tunnel stopped carrying data keeps running (lib/session/index.ts
 * PLUGIN_TUNNEL_NOTE), so a pool could not tell a dead session from a live one and would keep sending
 * connections into it; more than one is refused, the default quietly becomes 1.
 */
function resolveSessions(flag: string | undefined, configured: number | undefined, client: string, problems: string[]): number {
  if (flag !== undefined && !(/^\d{1,2}$/.test(flag) && Number(flag) >= 1 && Number(flag) <= MAX_SESSIONS)) {
    problems.push(`--sessions ${flag} is not a number of sessions: use 1 to ${MAX_SESSIONS}`);
    return 1;
  }
  const asked = flag !== undefined ? Number(flag) : configured;
  if (client !== "plugin") return asked ?? DEFAULT_SESSIONS;
  if (asked !== undefined && asked > 1) {
    problems.push(
      `--sessions ${asked}${flag === undefined ? " (from the config)" : ""} needs --client native: a session-manager-plugin whose tunnel stopped carrying data keeps running, so a pool of plugins cannot tell a dead session from a live one. Pass --client native, or --sessions 1`,
    );
  }
  return 1;
}

/** The answer to "Stop bastion task …?" given on the command line: --keep no, --stop or --yes yes, else ask. */
function stopAnswerOf(flags: { keep?: boolean; stop?: boolean; yes?: boolean }): boolean | undefined {
  if (flags.keep) return false;
  if (flags.stop || flags.yes) return true;
  return undefined;
}

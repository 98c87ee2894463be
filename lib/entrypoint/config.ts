// The entrypoint's configuration: env only (an ENTRYPOINT takes no flags; argv is the app's CMD),
// validated at once, every problem reported in one message.
import { parseBoolean } from "../cli.ts";
import { UsageError } from "../errors.ts";
import { envConfig, type Config } from "../config.ts";
import { parseDuration } from "../duration.ts";
import { TAG_MANAGED_BY } from "../constants.ts";
import { parseUserSpec } from "./app-user.ts";

export interface EntrypointConfig {
  /** The app: the image's CMD, run as a direct child. Empty: a pure bastion (the agent is the workload). */
  command: string[];
  disabled: boolean;
  env: string;
  iamRole: string;
  region: string;
  instanceName?: string;
  parameterName?: string;
  /** Extra tags from BASTION_TAGS, added to ours. */
  tags: Record<string, string>;
  activationTtlMs: number;
  shutdownTimeoutMs: number;
  /** Fail the container when registration fails. Always true without a CMD. */
  required: boolean;
  agentBin: string;
  registrationFile: string;
  /** BASTION_APP_USER: who the CMD runs as when the entrypoint is root (else the image's record). */
  appUser?: string;
}

export const DEFAULTS = {
  activationTtlMs: 60 * 60_000,
  // Inside Cloud Run's 10 s between SIGTERM and SIGKILL.
  shutdownTimeoutMs: 8_000,
  agentBin: "amazon-ssm-agent",
  registrationFile: "/var/lib/amazon/ssm/registration",
  /** Where an image build records the app image's own user (docker/app/Dockerfile.example). */
  appUserFile: "/etc/bastionless/app-user",
};

export const USAGE = `Usage: ENTRYPOINT ["tini", "--", "bastionless-entrypoint"] with the app's CMD after it (or none: a pure bastion).

Configuration, from the environment only:
  BASTION_ENV (or ENV)            environment name: tags and /<env>/portforward/instances/<source id>
  BASTION_IAM_ROLE                the IAM role the activation gives the managed instance
  BASTION_REGION (or AWS_REGION, AWS_DEFAULT_REGION)
                                  the region to register in (else the env's region in BASTIONLESS_CONFIG)
  BASTION_INSTANCE_NAME           the managed instance's name (default bastionless-<env>-<source id>)
  BASTION_PARAMETER_NAME          the parameter holding the instance id (default per source)
  BASTION_TAGS                    extra tags, k=v,k=v
  BASTION_ACTIVATION_TTL          activation lifetime, e.g. 30m (default 1h; it is deleted at once anyway)
  BASTION_SHUTDOWN_TIMEOUT        time from a stop signal to exit, e.g. 8s (default 8s)
  BASTION_DISABLED=true           run the CMD and nothing else (local runs)
  BASTION_REQUIRED=true           fail the container when registration fails
  BASTION_APP_USER                who the CMD runs as when the entrypoint is root: name, uid, name:group
                                  or uid:gid (default: the app image's user, as its build recorded it
                                  in /etc/bastionless/app-user; without either, the entrypoint's own)
  SSM_AGENT_BIN                   the agent binary (default amazon-ssm-agent)
  SSM_REGISTRATION_FILE           the agent's registration file (default /var/lib/amazon/ssm/registration)
  BASTIONLESS_CONFIG              a bastionless.config.json baked into the image: envs.<env>.region and
                                  defaults.region fill in the region (no file is searched for)`;

/** "bastionless:": our tag keys, which BASTION_TAGS may not set. */
const OUR_TAG_PREFIX = TAG_MANAGED_BY.slice(0, TAG_MANAGED_BY.indexOf(":") + 1);

/** `k=v,k=v` → tags, with the problems found (one per bad pair). */
export function parseTags(text: string): { tags: Record<string, string>; problems: string[] } {
  const tags: Record<string, string> = {};
  const problems: string[] = [];
  for (const pair of text
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? "" : pair.slice(0, eq).trim();
    const value = eq < 0 ? "" : pair.slice(eq + 1).trim();
    if (eq <= 0 || !key) problems.push(`"${pair}" is not key=value`);
    else if (key.length > 128 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u.test(key))
      problems.push(`tag key "${key}" must be 1–128 letters, digits, spaces or _.:/=+-@`);
    else if (/^aws:/i.test(key)) problems.push(`tag key "${key}": the aws: prefix is reserved`);
    else if (key.startsWith(OUR_TAG_PREFIX)) problems.push(`tag key "${key}": ${OUR_TAG_PREFIX} tags are set by the entrypoint itself`);
    else if (value.length > 256 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(value))
      problems.push(`tag value "${value}" of ${key} must be up to 256 letters, digits, spaces or _.:/=+-@`);
    else if (key in tags) problems.push(`tag key "${key}" appears twice`);
    else tags[key] = value;
  }
  return { tags, problems };
}

/**
 * Reads and validates the configuration; throws one UsageError listing every problem. `team` is the
 * file BASTIONLESS_CONFIG names, if any: the environment beats it, as flags beat it elsewhere.
 */
export function parseEntrypointConfig(env: NodeJS.ProcessEnv, argv: readonly string[], team?: Config): EntrypointConfig {
  const vars = new EnvReader(env);
  const command = argv[0] === "--" ? argv.slice(1) : [...argv];
  const disabled = vars.bool("BASTION_DISABLED", false);
  const appUserField = readAppUser(vars);
  const shutdownTimeoutMs = vars.duration("BASTION_SHUTDOWN_TIMEOUT", DEFAULTS.shutdownTimeoutMs, 100, 3_600_000, "100ms and 1h");
  if (disabled) return disabledConfig(vars, command, shutdownTimeoutMs, appUserField);

  const envName = readEnvName(vars);
  const iamRole = readIamRole(vars);
  const region = readRegion(vars, team, envName);
  const instanceName = readInstanceName(vars);
  const parameterName = readParameterName(vars);
  const tags = readTags(vars);
  const activationTtlMs = vars.duration("BASTION_ACTIVATION_TTL", DEFAULTS.activationTtlMs, 60_000, 30 * 86_400_000, "1m and 30d");
  const required = vars.bool("BASTION_REQUIRED", false);

  if (vars.problems.length) throw configError(vars.problems);
  return {
    command,
    disabled,
    env: envName!,
    iamRole: iamRole!,
    region: region!,
    ...(instanceName ? { instanceName } : {}),
    ...(parameterName ? { parameterName } : {}),
    tags,
    activationTtlMs,
    shutdownTimeoutMs,
    required: required || command.length === 0,
    agentBin: vars.get("SSM_AGENT_BIN") ?? DEFAULTS.agentBin,
    registrationFile: vars.get("SSM_REGISTRATION_FILE") ?? DEFAULTS.registrationFile,
    ...appUserField,
  };
}

/** The environment's variables, trimmed, with every problem found while reading them. */
class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /** The first of `names` that is set and not blank. */
  get(...names: string[]): string | undefined {
    for (const name of names) if (this.env[name] !== undefined && this.env[name]!.trim() !== "") return this.env[name]!.trim();
    return undefined;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.get(name);
    if (raw === undefined) return fallback;
    const value = parseBoolean(raw);
    if (value === undefined) this.problems.push(`${name}=${raw} is not a boolean: use true or false`);
    return value ?? fallback;
  }

  duration(name: string, fallback: number, minMs: number, maxMs: number, range: string): number {
    const raw = this.get(name);
    if (raw === undefined) return fallback;
    const value = parseDuration(raw, { bareUnit: "s" });
    if (value === undefined) this.problems.push(`${name}=${raw} is not a duration such as 8s, 30m or 1h`);
    else if (value < minMs || value > maxMs) this.problems.push(`${name}=${raw} must be between ${range}`);
    return value ?? fallback;
  }
}

function readAppUser(vars: EnvReader): { appUser?: string } {
  const appUser = vars.get("BASTION_APP_USER");
  if (appUser !== undefined && !parseUserSpec(appUser)) vars.problems.push(`BASTION_APP_USER=${appUser} is not a user: use name, uid, name:group or uid:gid`);
  return appUser !== undefined ? { appUser } : {};
}

/** BASTION_DISABLED=true: only the CMD runs, so nothing else is required. */
function disabledConfig(vars: EnvReader, command: string[], shutdownTimeoutMs: number, appUserField: { appUser?: string }): EntrypointConfig {
  if (command.length === 0) vars.problems.push("BASTION_DISABLED=true needs a CMD to run: there is nothing else to do");
  if (vars.problems.length) throw configError(vars.problems);
  return {
    command,
    disabled: true,
    env: "",
    iamRole: "",
    region: "",
    tags: {},
    activationTtlMs: DEFAULTS.activationTtlMs,
    shutdownTimeoutMs,
    required: false,
    agentBin: DEFAULTS.agentBin,
    registrationFile: DEFAULTS.registrationFile,
    ...appUserField,
  };
}

function readEnvName(vars: EnvReader): string | undefined {
  const envName = vars.get("BASTION_ENV", "ENV");
  if (envName === undefined) vars.problems.push("BASTION_ENV (or ENV) is missing: the environment name, e.g. stg");
  else if (!/^[a-zA-Z0-9_.-]{1,64}$/.test(envName)) vars.problems.push(`BASTION_ENV=${envName} must be 1–64 letters, digits or _.-`);
  return envName;
}

function readIamRole(vars: EnvReader): string | undefined {
  const iamRole = vars.get("BASTION_IAM_ROLE");
  if (iamRole === undefined) vars.problems.push("BASTION_IAM_ROLE is missing: the IAM role for the managed instance, trusted by ssm.amazonaws.com");
  else if (!/^[\w+=,.@/-]{1,64}$/.test(iamRole)) vars.problems.push(`BASTION_IAM_ROLE=${iamRole} is not an IAM role name (up to 64 characters, path allowed)`);
  return iamRole;
}

function readRegion(vars: EnvReader, team: Config | undefined, envName: string | undefined): string | undefined {
  const region = vars.get("BASTION_REGION", "AWS_REGION", "AWS_DEFAULT_REGION") ?? envConfig(team, envName).region;
  if (region === undefined) vars.problems.push("BASTION_REGION (or AWS_REGION) is missing: the region to register in");
  else if (!/^[a-z]{2}(-[a-z0-9]+)+-\d+$/.test(region)) vars.problems.push(`BASTION_REGION=${region} is not a region name such as eu-west-1`);
  return region;
}

function readInstanceName(vars: EnvReader): string | undefined {
  const instanceName = vars.get("BASTION_INSTANCE_NAME");
  if (instanceName !== undefined && (instanceName.length > 256 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(instanceName))) {
    vars.problems.push(`BASTION_INSTANCE_NAME=${instanceName} must be up to 256 letters, digits, spaces or _.:/=+-@`);
  }
  return instanceName;
}

function readParameterName(vars: EnvReader): string | undefined {
  const parameterName = vars.get("BASTION_PARAMETER_NAME");
  if (parameterName !== undefined && (parameterName.length > 1011 || !/^\/[a-zA-Z0-9_.\-/]+$/.test(parameterName) || parameterName.includes("//"))) {
    vars.problems.push(`BASTION_PARAMETER_NAME=${parameterName} must be a path such as /stg/portforward/instances/app (letters, digits, _.-/)`);
  }
  return parameterName;
}

function readTags(vars: EnvReader): Record<string, string> {
  const rawTags = vars.get("BASTION_TAGS");
  const parsedTags = rawTags === undefined ? { tags: {}, problems: [] } : parseTags(rawTags);
  if (parsedTags.problems.length) vars.problems.push(`BASTION_TAGS is malformed (k=v,k=v): ${parsedTags.problems.join("; ")}`);
  // Parameters take at most 50 tags, and ours are four.
  else if (Object.keys(parsedTags.tags).length > 46) vars.problems.push("BASTION_TAGS has more than 46 tags (a parameter takes 50, four are ours)");
  return parsedTags.tags;
}

function configError(problems: string[]): UsageError {
  const error = new UsageError(
    `The entrypoint's configuration has ${problems.length === 1 ? "a problem" : `${problems.length} problems`}; no CMD was started: ${problems.map((p, i) => `(${i + 1}) ${p}`).join(" ")}`,
  );
  (error as UsageError & { problems: string[] }).problems = problems;
  return error;
}

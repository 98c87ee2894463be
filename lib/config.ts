// bastionless.config.json: optional per-env team defaults, so that `make tunnel ENV=stg` needs no prompt.
// Flags beat env vars beat this file beat prompts. Unknown keys are errors: a typo must not be ignored.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { CONFIG_FILE } from "./constants.ts";
import { UsageError } from "./cli.ts";
import { parseDuration } from "./duration.ts";

export interface ExecConfig {
  /** Commands allowed in this env; anything else is refused before any AWS call. */
  allow?: string[];
  /** Default --command. */
  shell?: string;
}

export interface EnvConfig {
  profile?: string;
  region?: string;
  cluster?: string;
  service?: string;
  taskDefinition?: string;
  /** Default --target: an RDS cluster/instance id, an endpoint, or host:port. */
  target?: string;
  localPort?: number;
  /** Extra tunnels, "LOCAL:HOST:REMOTE". */
  forwards?: string[];
  via?: "auto" | "ecs-exec" | "instance";
  client?: "auto" | "native" | "plugin";
  /** Readiness timeout, e.g. "5m". */
  timeout?: string;
  exec?: ExecConfig;
}

/**
 * A named tunnel, as basti users know them: `bastionless tunnel stg-db` opens it. Its keys are
 * portforward's flags (flags given on the command line beat them); the env's own section still
 * supplies the profile, region and the rest.
 */
export interface ConnectionConfig {
  env: string;
  target?: string;
  localPort?: number;
  forwards?: string[];
  cluster?: string;
  service?: string;
  taskDefinition?: string;
  via?: "auto" | "ecs-exec" | "instance";
}

export interface Config {
  /** The file it came from. */
  path: string;
  defaults: EnvConfig;
  envs: Record<string, EnvConfig>;
  /** Named tunnels (empty when the file declares none). */
  connections?: Record<string, ConnectionConfig>;
}

export class ConfigError extends UsageError {
  override name = "ConfigError";
}

type Check = (value: unknown) => string | undefined; // undefined = ok, else "what was expected"

const isString: Check = (v) => (typeof v === "string" && v.length > 0 ? undefined : "a non-empty string");
const isPort: Check = (v) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535 ? undefined : "an integer from 0 to 65535");
const oneOf = (...values: string[]): Check => (v) => (values.includes(v as string) ? undefined : `one of ${values.map((x) => `"${x}"`).join(", ")}`);
const stringList: Check = (v) => (Array.isArray(v) && v.every((x) => typeof x === "string" && x.length > 0) ? undefined : "an array of non-empty strings");
const forwardList: Check = (v) =>
  stringList(v) ?? ((v as string[]).every((f) => /^\d{1,5}:[^:\s]+:\d{1,5}$/.test(f)) ? undefined : 'an array of "LOCAL:HOST:REMOTE" strings, e.g. "15432:db.internal:5432"');
const duration: Check = (v) => (typeof v === "string" && parseDuration(v) !== undefined ? undefined : 'a duration like "90s", "5m" or "1h"');

const ENV_KEYS: Record<keyof EnvConfig, Check | Record<string, Check>> = {
  profile: isString,
  region: (v) => (typeof v === "string" && /^[a-z]{2}(-[a-z]+)+-\d$/.test(v) ? undefined : 'an AWS region like "ap-northeast-1"'),
  cluster: isString,
  service: isString,
  taskDefinition: isString,
  target: isString,
  localPort: isPort,
  forwards: forwardList,
  via: oneOf("auto", "ecs-exec", "instance"),
  client: oneOf("auto", "native", "plugin"),
  timeout: duration,
  exec: { allow: stringList, shell: isString },
};

const ENV_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$/;

const CONNECTION_KEYS: Record<keyof ConnectionConfig, Check> = {
  env: (v) => (typeof v === "string" && ENV_NAME.test(v) ? undefined : 'the name of an env, e.g. "stg"'),
  target: ENV_KEYS.target as Check,
  localPort: isPort,
  forwards: forwardList,
  cluster: isString,
  service: isString,
  taskDefinition: isString,
  via: ENV_KEYS.via as Check,
};

/** Validates parsed JSON; throws one ConfigError naming the file, the key and what was expected. */
export function parseConfig(raw: unknown, path: string): Config {
  const fail = (key: string, expected: string, got?: unknown): never => {
    const shown = got === undefined ? "" : ` (got ${JSON.stringify(got)?.slice(0, 60)})`;
    throw new ConfigError(`${path}: ${key} must be ${expected}${shown}.`);
  };
  if (!isPlainObject(raw)) fail("the top level", 'an object like {"envs": {"stg": {…}}}');
  const top = raw as Record<string, unknown>;
  for (const key of Object.keys(top)) {
    if (!["$schema", "defaults", "envs", "connections"].includes(key)) fail(`"${key}"`, 'one of "defaults", "envs", "connections" (unknown key)');
  }
  const defaults = top.defaults === undefined ? {} : checkEnv(top.defaults, "defaults", fail);
  if (top.envs !== undefined && !isPlainObject(top.envs)) fail("envs", "an object keyed by env name", top.envs);
  const envs: Record<string, EnvConfig> = {};
  for (const [name, value] of Object.entries((top.envs ?? {}) as Record<string, unknown>)) {
    if (!ENV_NAME.test(name)) fail(`envs."${name}"`, "named with letters, digits, - and _ only");
    envs[name] = checkEnv(value, `envs.${name}`, fail);
  }
  if (top.connections !== undefined && !isPlainObject(top.connections)) fail("connections", "an object keyed by connection name", top.connections);
  const connections: Record<string, ConnectionConfig> = {};
  for (const [name, value] of Object.entries((top.connections ?? {}) as Record<string, unknown>)) {
    if (!ENV_NAME.test(name)) fail(`connections."${name}"`, "named with letters, digits, - and _ only");
    connections[name] = checkConnection(value, `connections.${name}`, fail);
  }
  return { path, defaults, envs, connections };
}

function checkConnection(value: unknown, at: string, fail: (key: string, expected: string, got?: unknown) => never): ConnectionConfig {
  if (!isPlainObject(value)) fail(at, 'an object like {"env": "stg", "target": "stg-db", "localPort": 15432}', value);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const rule = CONNECTION_KEYS[key as keyof ConnectionConfig];
    if (!rule) fail(`${at}.${key}`, `one of ${Object.keys(CONNECTION_KEYS).join(", ")} (unknown key)`);
    const expected = rule(v);
    if (expected) fail(`${at}.${key}`, expected, v);
  }
  if ((value as Record<string, unknown>).env === undefined) fail(`${at}.env`, 'the name of the env it opens in, e.g. "stg" (missing)');
  return value as unknown as ConnectionConfig;
}

function checkEnv(value: unknown, at: string, fail: (key: string, expected: string, got?: unknown) => never): EnvConfig {
  if (!isPlainObject(value)) fail(at, "an object", value);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const rule = ENV_KEYS[key as keyof EnvConfig];
    if (!rule) fail(`${at}.${key}`, `one of ${Object.keys(ENV_KEYS).join(", ")} (unknown key)`);
    if (typeof rule === "function") {
      const expected = rule(v);
      if (expected) fail(`${at}.${key}`, expected, v);
    } else {
      if (!isPlainObject(v)) fail(`${at}.${key}`, "an object", v);
      for (const [sub, sv] of Object.entries(v as Record<string, unknown>)) {
        const subRule = rule[sub];
        if (!subRule) fail(`${at}.${key}.${sub}`, `one of ${Object.keys(rule).join(", ")} (unknown key)`);
        const expected = subRule(sv);
        if (expected) fail(`${at}.${key}.${sub}`, expected, sv);
      }
    }
  }
  return value as EnvConfig;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The directories a config file may come from: `cwd` and its parents up to the repository root (the
 * first with .git) or $HOME, whichever comes first. With neither above it (a shared /tmp), `cwd` only:
 * a file another user dropped higher up must not choose our cluster.
 */
export function configSearchPath(cwd: string, home: string = homedir()): string[] {
  const dirs: string[] = [];
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    dirs.push(dir);
    if (existsSync(join(dir, ".git")) || dir === resolve(home)) return dirs;
    if (dirname(dir) === dir) return dirs.slice(0, 1);
  }
}

/** Why a file we found must not configure us (owned by another user, writable by others), or undefined when it may. */
export function untrustedBecause(stat: { uid: number; mode: number }, uid: number | undefined = process.getuid?.()): string | undefined {
  if (uid !== undefined && stat.uid !== uid && stat.uid !== 0) return `it is owned by uid ${stat.uid}, not by you (uid ${uid}) or root`;
  if (stat.mode & 0o022) return `it is writable by other users (mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")})`;
  return undefined;
}

/** The first trusted bastionless.config.json on the search path; each untrusted one is skipped with one warning line. */
export function findConfigFile(cwd: string, options: { home?: string; warn?: (line: string) => void } = {}): string | undefined {
  const warn = options.warn ?? ((line: string) => process.stderr.write(line + "\n"));
  for (const dir of configSearchPath(cwd, options.home)) {
    const candidate = join(dir, CONFIG_FILE);
    let why: string | undefined;
    try {
      why = untrustedBecause(statSync(candidate));
    } catch {
      continue;
    }
    if (!why) return candidate;
    warn(`Ignoring ${candidate}: ${why}. Check who wrote it; if you trust it, chown it to yourself and chmod go-w it.`);
  }
  return undefined;
}

export interface LoadConfigOptions {
  /** Where the walk up starts; default the current directory. */
  cwd?: string;
  /** An explicit file; default $BASTIONLESS_CONFIG. */
  path?: string;
  env?: NodeJS.ProcessEnv;
  /** Walk up from cwd when no file is named (default true; the entrypoint reads only a named file). */
  search?: boolean;
}

/** Reads the config: a named file (BASTIONLESS_CONFIG) must exist; one found by walking up is optional. */
export function loadConfig(options: LoadConfigOptions = {}): Config | undefined {
  const named = options.path ?? ((options.env ?? process.env).BASTIONLESS_CONFIG || undefined);
  const path = named ?? (options.search === false ? undefined : findConfigFile(options.cwd ?? process.cwd()));
  if (!path) return undefined;
  let text: string;
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const why = untrustedBecause(fstatSync(fd));
    if (why) throw new ConfigError(`${path}: not used, ${why}. Check who wrote it; if you trust it, chown it to yourself and chmod go-w it.`);
    text = readFileSync(fd, "utf8");
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Fix the path in BASTIONLESS_CONFIG or remove it.`, { cause: error });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path}: is not valid JSON${jsonErrorWhere(text, (error as Error).message)}: expected a JSON object like {"envs": {"stg": {"cluster": "stg-main"}}}.`, { cause: error });
  }
  return parseConfig(raw, path);
}

/** " at line L column C" from V8's "… at position N" message, when it has one. */
function jsonErrorWhere(text: string, message: string): string {
  const position = /position (\d+)/.exec(message);
  if (!position) return ` (${message.replace(/\s+/g, " ")})`;
  const before = text.slice(0, Number(position[1]));
  const line = before.split("\n").length;
  const column = before.length - before.lastIndexOf("\n");
  return ` at line ${line} column ${column}`;
}

/**
 * The line every program prints before its first call that changes anything: which config file (if
 * any) and which account coordinates this run uses, so a file nobody meant to be read is seen at once.
 */
export function describeScope(scope: { configPath?: string; env?: string; profile?: string; region?: string; cluster?: string }): string {
  const parts = [
    scope.configPath ? `config ${scope.configPath}` : "no config file",
    ...(scope.env ? [`env ${scope.env}`] : []),
    `profile ${scope.profile ?? "default"}`,
    ...(scope.region ? [`region ${scope.region}`] : []),
    ...(scope.cluster ? [`cluster ${scope.cluster}`] : []),
  ];
  return `Using ${parts.join(", ")}.`;
}

/** The settings of one env: its own keys over `defaults`. */
export function envConfig(config: Config | undefined, env: string | undefined): EnvConfig {
  if (!config) return {};
  const own = env ? config.envs[env] ?? {} : {};
  return { ...config.defaults, ...own, exec: { ...config.defaults.exec, ...own.exec } };
}

/** The envs the config names, for prompts and validation. */
export function configuredEnvs(config: Config | undefined): string[] {
  return config ? Object.keys(config.envs) : [];
}

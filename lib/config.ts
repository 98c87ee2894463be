// bastionless.config.json: optional per-env team defaults, so that `make tunnel ENV=stg` needs no prompt.
// Flags beat env vars beat this file beat prompts. Unknown keys are errors: a typo must not be ignored.
// Its keys, types and messages are lib/config-schema.ts; this file finds, trusts and reads it.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { CONFIG_FILE } from "./constants.ts";
import { UsageError } from "./errors.ts";
import { checkConfigFile, type ConnectionConfig, type EnvConfig } from "./config-schema.ts";

export type { ConnectionConfig, EnvConfig, ExecConfig } from "./config-schema.ts";

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

/** Validates parsed JSON against the schema; throws one ConfigError naming the file, the key and what was expected. */
export function parseConfig(raw: unknown, path: string): Config {
  const checked = checkConfigFile(raw);
  if ("problem" in checked) throw new ConfigError(`${path}: ${checked.problem}`);
  const { defaults = {}, envs = {}, connections = {} } = checked.config;
  return { path, defaults, envs, connections };
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
    throw new ConfigError(
      `${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Fix the path in BASTIONLESS_CONFIG or remove it.`,
      { cause: error },
    );
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `${path}: is not valid JSON${jsonErrorWhere(text, (error as Error).message)}: expected a JSON object like {"envs": {"stg": {"cluster": "stg-main"}}}.`,
      { cause: error },
    );
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
  const own = env ? (config.envs[env] ?? {}) : {};
  return { ...config.defaults, ...own, exec: { ...config.defaults.exec, ...own.exec } };
}

/** The envs the config names, for prompts and validation. */
export function configuredEnvs(config: Config | undefined): string[] {
  return config ? Object.keys(config.envs) : [];
}

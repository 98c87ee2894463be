// bastionless.config.json's one schema: the types the programs read, the check a file must pass, the
// line a bad file gets, the choices --via and --client offer, and (lib/config-json-schema.ts) the JSON
// Schema editors read. Every way a value can be wrong reads "<file>: <key> must be <what> (got …)."
// zod/mini, not zod: bundled, it loads in a tenth of the time (about 3 ms against 40), and every
// program, the entrypoint before its CMD, loads this file.
import * as z from "zod/mini";
import { MAX_SESSIONS } from "./constants.ts";
import { DURATION_WITH_UNIT } from "./duration.ts";

/** `what` for every failure of the schema that `build` makes with it: `expecting("a port", (e) => z.int(e).check(z.gte(0, e)))`. */
function expecting<T extends z.ZodMiniType>(what: string, build: (e: { error: string }) => T): T {
  return build({ error: what });
}

/** The same schema with the line an editor shows for the key (the JSON Schema's description). */
function about<T extends z.ZodMiniType>(schema: T, description: string): T {
  const copy = schema.clone();
  z.globalRegistry.add(copy, { description });
  return copy;
}

/** An object that refuses unknown keys, each one named with the keys it could have been. */
function strictObject<S extends z.core.$ZodLooseShape>(shape: S, what: string, keys = Object.keys(shape).join(", ")) {
  return z.strictObject(shape, { error: (issue) => (issue.code === "unrecognized_keys" ? `one of ${keys} (unknown key)` : what) });
}

export const VIA_CHOICES = ["auto", "ecs-exec", "instance"] as const;
export const CLIENT_CHOICES = ["auto", "native", "plugin"] as const;
export type Via = (typeof VIA_CHOICES)[number];
export type ClientChoice = (typeof CLIENT_CHOICES)[number];

const oneOf = <T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `one of ${values.map((v) => `"${v}"`).join(", ")}` });

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$/;
const FORWARD = /^\d{1,5}:[^:\s]+:\d{1,5}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

const NAMED = "named with letters, digits, - and _ only";
const TOP_KEYS = ["defaults", "envs", "connections"];

let built: ConfigSchemas | undefined;

/**
 * The schemas, built on first use: building them costs tens of milliseconds of a cold start, which
 * a program that reads no file (the entrypoint, as a rule, before it starts CMD) must not pay.
 */
export function configSchemas(): ConfigSchemas {
  return (built ??= buildConfigSchemas());
}

type ConfigSchemas = ReturnType<typeof buildConfigSchemas>;

function buildConfigSchemas() {
  const shared = sharedSchemas();
  const exec = execSchema(shared);
  const env = envSchema(shared, exec);
  const connection = connectionSchema(shared);
  return { file: fileSchema(env, connection), env, connection, exec };
}

/** The values several sections share, each with what it expects and what it means. */
function sharedSchemas() {
  const text = expecting("a non-empty string", (e) => z.string(e).check(z.minLength(1, e)));
  const port = expecting("an integer from 0 to 65535", (e) => z.int(e).check(z.gte(0, e), z.lte(65535, e)));
  const sessionCount = expecting(`an integer from 1 to ${MAX_SESSIONS}`, (e) => z.int(e).check(z.gte(1, e), z.lte(MAX_SESSIONS, e)));
  const LIST = "an array of non-empty strings";
  const stringList = z.array(
    expecting(LIST, (e) => z.string(e).check(z.minLength(1, e))),
    { error: LIST },
  );
  // A list's items are judged as strings before any is judged as a forward (configIssueLine: invalid_format last).
  const forwardList = z.array(
    expecting(LIST, (e) =>
      z.string(e).check(z.minLength(1, e), z.regex(FORWARD, { error: 'an array of "LOCAL:HOST:REMOTE" strings, e.g. "15432:db.internal:5432"' })),
    ),
    { error: LIST },
  );

  return {
    text,
    stringList,
    cluster: about(text, "ECS cluster (default: the env's clusters, prompted)"),
    service: about(text, "service whose subnets, security groups and launch type the bastion task gets"),
    taskDefinition: about(text, "bastion task definition, family[:revision] (default: <env>-bastion)"),
    target: about(text, "default --target: an RDS cluster or instance id, an endpoint, or host:port"),
    localPort: about(port, "local port for the target (default: its port + 10000; 0 = any free port)"),
    forwards: about(forwardList, 'extra tunnels through the same bastion, "LOCAL:HOST:REMOTE"'),
    via: about(oneOf(VIA_CHOICES), "ECS Exec target or the task's managed instance (auto: ECS Exec when its agent runs)"),
    sessions: about(sessionCount, "Session Manager sessions per forward (portforward --sessions)"),
  };
}

type Shared = ReturnType<typeof sharedSchemas>;

function execSchema({ text, stringList }: Shared) {
  return about(
    z.partial(
      strictObject(
        {
          allow: about(stringList, "the commands exec may run in this env, matched exactly; anything else is refused before any AWS call"),
          shell: about(text, "default --command"),
        },
        "an object",
      ),
    ),
    "exec's settings",
  );
}

function envSchema(shared: Shared, execConfigSchema: ReturnType<typeof execSchema>) {
  const { text } = shared;
  return z.partial(
    strictObject(
      {
        profile: about(text, "AWS profile"),
        region: about(
          expecting('an AWS region like "ap-northeast-1"', (e) => z.string(e).check(z.regex(REGION, e))),
          "AWS region",
        ),
        cluster: shared.cluster,
        service: shared.service,
        taskDefinition: shared.taskDefinition,
        target: shared.target,
        localPort: shared.localPort,
        forwards: shared.forwards,
        via: shared.via,
        client: about(oneOf(CLIENT_CHOICES), "Session Manager client: native (built in) or AWS's session-manager-plugin"),
        timeout: about(
          expecting('a duration like "90s", "5m" or "1h"', (e) => z.string(e).check(z.regex(DURATION_WITH_UNIT, e))),
          'how long portforward waits for the bastion to be ready, e.g. "5m"',
        ),
        sessions: shared.sessions,
        exec: execConfigSchema,
      },
      "an object",
    ),
  );
}

/**
 * A named tunnel, as basti users know them: `bastionless tunnel stg-db` opens it. Its keys are
 * portforward's flags (flags given on the command line beat them); the env's own section still
 * supplies the profile, region and the rest.
 */
function connectionSchema(shared: Shared) {
  return strictObject(
    {
      env: about(
        z
          .string({
            error: (issue) => (issue.input === undefined ? 'the name of the env it opens in, e.g. "stg" (missing)' : 'the name of an env, e.g. "stg"'),
          })
          .check(z.regex(NAME, { error: 'the name of an env, e.g. "stg"' })),
        "the env whose section supplies the profile, region and the rest",
      ),
      target: z.optional(shared.target),
      localPort: z.optional(shared.localPort),
      forwards: z.optional(shared.forwards),
      cluster: z.optional(shared.cluster),
      service: z.optional(shared.service),
      taskDefinition: z.optional(shared.taskDefinition),
      via: z.optional(shared.via),
      sessions: z.optional(shared.sessions),
    },
    'an object like {"env": "stg", "target": "stg-db", "localPort": 15432}',
  );
}

function fileSchema(envConfigSchema: ReturnType<typeof envSchema>, connectionConfigSchema: ReturnType<typeof connectionSchema>) {
  const name = expecting(NAMED, (e) => z.string(e).check(z.regex(NAME, e)));
  return strictObject(
    {
      $schema: about(z.optional(z.unknown()), "the JSON Schema this file follows, for editors; bastionless does not read it"),
      defaults: about(z.optional(envConfigSchema), "settings every env starts from"),
      envs: about(z.optional(z.record(name, envConfigSchema, { error: "an object keyed by env name" })), "settings per env, keyed by the name --env takes"),
      connections: about(
        z.optional(z.record(name, connectionConfigSchema, { error: "an object keyed by connection name" })),
        "named tunnels for `bastionless tunnel <name>`",
      ),
    },
    'an object like {"envs": {"stg": {…}}}',
    TOP_KEYS.map((k) => `"${k}"`).join(", "),
  ).register(z.globalRegistry, {
    title: "bastionless.config.json",
    description: "bastionless team config: per-env defaults, so that `make tunnel ENV=stg` needs no prompt. Flags beat env vars beat this file beat prompts.",
  });
}

export type ExecConfig = z.infer<ConfigSchemas["exec"]>;
export type EnvConfig = z.infer<ConfigSchemas["env"]>;
export type ConnectionConfig = z.infer<ConfigSchemas["connection"]>;
export type ConfigFile = z.infer<ConfigSchemas["file"]>;

/** The file's settings, or the line for its first problem (without the file's name, which the caller puts first). */
export function checkConfigFile(raw: unknown): { config: ConfigFile } | { problem: string } {
  const parsed = configSchemas().file.safeParse(raw);
  const issues = [...prototypeKeyIssues(raw), ...(parsed.error?.issues ?? [])];
  return issues.length || !parsed.success ? { problem: configIssueLine(issues, raw) } : { config: parsed.data };
}

/** zod's records skip a "__proto__" key without a word (its guard against prototype pollution); a name the file may not use all the same. */
function prototypeKeyIssues(raw: unknown): z.core.$ZodIssue[] {
  if (!isPlainObject(raw)) return [];
  return (["envs", "connections"] as const).flatMap((key) => {
    const names = raw[key];
    if (!isPlainObject(names) || !Object.hasOwn(names, "__proto__")) return [];
    return [{ code: "invalid_key", origin: "record", path: [key, "__proto__"], issues: [], message: NAMED, input: "__proto__" }];
  });
}

/**
 * The line for the first problem of a file the schema refused, in the order a reader meets them: an
 * unknown top-level key, then defaults, envs and connections, each in the file's own order; a missing
 * key after the keys beside it. Without the file's name, which the caller puts first.
 */
function configIssueLine(issues: readonly z.core.$ZodIssue[], raw: unknown): string {
  const problems = issues.flatMap((issue): Problem[] => {
    if (issue.code === "unrecognized_keys") return issue.keys.map((key) => ({ path: [...issue.path, key], what: issue.message, kind: "unknown key", rank: 0 }));
    if (issue.code === "invalid_key") return [{ path: issue.path, what: issue.issues[0]?.message ?? issue.message, kind: "name", rank: 0 }];
    // An item of a list is reported as the list, whole: "forwards must be … (got ["5432"])".
    const item = issue.path.findIndex((segment) => typeof segment === "number");
    return [{ path: item < 0 ? issue.path : issue.path.slice(0, item), what: issue.message, kind: "value", rank: issue.code === "invalid_format" ? 1 : 0 }];
  });
  const { path, what, kind } = problems
    .map((p) => ({ p, order: orderOf(p.path, raw) }))
    .sort((a, b) => compareOrders(a.order, b.order) || a.p.rank - b.p.rank)[0]!.p;
  const keys = path.map(String);
  const where = placeOf(keys, kind);
  const got = kind === "value" && keys.length > 0 ? valueAt(raw, keys) : undefined;
  return `${where} must be ${what}${got === undefined ? "" : ` (got ${JSON.stringify(got)?.slice(0, 60)})`}.`;
}

type Problem = { path: PropertyKey[]; what: string; kind: "unknown key" | "name" | "value"; rank: number };

/** The key a line names: a name or a top-level unknown key in quotes (it may hold a dot), any other path dotted. */
function placeOf(keys: string[], kind: Problem["kind"]): string {
  if (keys.length === 0) return "the top level";
  const last = keys.length - 1;
  if (kind === "name" || (kind === "unknown key" && last === 0)) return [...keys.slice(0, last), `"${keys[last]}"`].join(".");
  return keys.join(".");
}

/** Where a path stands in the file: at the top the schema's order (unknown keys first), below it the file's. */
function orderOf(path: PropertyKey[], raw: unknown): number[] {
  const order: number[] = [];
  let at: unknown = raw;
  path.map(String).forEach((key, depth) => {
    const keys = isPlainObject(at) ? Object.keys(at) : [];
    const inFile = keys.includes(key) ? keys.indexOf(key) : Number.MAX_SAFE_INTEGER;
    order.push(...orderAt(depth, key, inFile));
    at = isPlainObject(at) ? at[key] : undefined;
  });
  return order;
}

/** Below the top a key's place in the file; at the top its place in the schema, unknown keys first. */
function orderAt(depth: number, key: string, inFile: number): number[] {
  if (depth > 0) return [inFile];
  return TOP_KEYS.includes(key) ? [TOP_KEYS.indexOf(key), 0] : [-1, inFile];
}

function compareOrders(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function valueAt(raw: unknown, keys: string[]): unknown {
  return keys.reduce<unknown>((at, key) => (isPlainObject(at) ? at[key] : undefined), raw);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// Which clusters, services and databases belong to an env (the seed greps the env in names): pure
// filters and the lines shown in the prompts.
import type { Choice } from "../prompts.ts";
import type { DatabaseTarget } from "../aws/rds.ts";
import { TAG_ENV } from "../constants.ts";

/** `stg` names `stg-main`, `app-stg`, `my_stg_db`; not `stgx-main`. */
export function namesEnv(name: string, env: string): boolean {
  return name.toLowerCase().split(/[^a-z0-9]+/).includes(env.toLowerCase());
}

/** Names that carry the env as a word; without any, those that merely contain it (the seed's grep). */
export function filterByEnv(names: string[], env: string): string[] {
  const exact = names.filter((n) => namesEnv(n, env));
  return exact.length ? exact : names.filter((n) => n.toLowerCase().includes(env.toLowerCase()));
}

/** Envs for the prompt: the config's, else the first word of each cluster name (stg-main → stg). */
export function envChoices(configured: string[], clusterNames: string[]): string[] {
  if (configured.length) return [...configured].sort();
  return [...new Set(clusterNames.map((n) => n.split(/[^a-zA-Z0-9]+/)[0]).filter(Boolean))].sort();
}

/** Databases of the env: tagged with it (bastionless:env, env, Environment) or named after it. */
export function databasesOfEnv(targets: DatabaseTarget[], env: string): DatabaseTarget[] {
  return targets.filter((t) => {
    const tagged = [t.tags[TAG_ENV], t.tags.env, t.tags.Env, t.tags.Environment, t.tags.environment].find((v) => v !== undefined);
    return tagged !== undefined ? tagged.toLowerCase() === env.toLowerCase() : namesEnv(t.id, env) || namesEnv(t.host.split(".")[0], env);
  });
}

export function databaseChoice(t: DatabaseTarget): Choice<DatabaseTarget> {
  return { value: t, label: `${t.id}  ${t.kind === "cluster" ? "cluster" : "instance"}  ${t.engine}  port ${t.port}`, description: `${t.host}:${t.port}` };
}

export function nameChoices(names: string[]): Choice<string>[] {
  return names.map((n) => ({ value: n, label: n }));
}

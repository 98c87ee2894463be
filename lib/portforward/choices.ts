// Which databases belong to an env, and the lines shown in the prompts. Clusters and services go by
// the one env rule of lib/envs.ts.
import type { Choice } from "../prompts.ts";
import type { DatabaseTarget } from "../aws/rds.ts";
import { TAG_ENV } from "../constants.ts";
import { belongsToEnv, envSuggestedBy, looksLikeProduction } from "../envs.ts";

export { looksLikeProduction } from "../envs.ts";

/**
 * Envs for the prompt: the config's, else the first word of each cluster name (stg-main → stg);
 * sorted, production-like ones last, so the prompt's first (default) choice is never production.
 */
export function envChoices(configured: string[], clusterNames: string[]): string[] {
  const envs = configured.length ? [...configured] : [...new Set(clusterNames.map(envSuggestedBy).filter((e): e is string => Boolean(e)))];
  const rank = (e: string) => (looksLikeProduction(e) ? 1 : 0);
  return envs.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Databases of the env: tagged with it (bastionless:env, env, Environment) or named after it. */
export function databasesOfEnv(targets: DatabaseTarget[], env: string): DatabaseTarget[] {
  return targets.filter((t) => {
    const tagged = [t.tags[TAG_ENV], t.tags.env, t.tags.Env, t.tags.Environment, t.tags.environment].find((v) => v !== undefined);
    return tagged !== undefined ? tagged.toLowerCase() === env.toLowerCase() : belongsToEnv(t.id, env) || belongsToEnv(t.host.split(".")[0], env);
  });
}

export function databaseChoice(t: DatabaseTarget): Choice<DatabaseTarget> {
  return { value: t, label: `${t.id}  ${t.kind === "cluster" ? "cluster" : "instance"}  ${t.engine}  port ${t.port}`, description: `${t.host}:${t.port}` };
}

export function nameChoices(names: string[]): Choice<string>[] {
  return names.map((n) => ({ value: n, label: n }));
}

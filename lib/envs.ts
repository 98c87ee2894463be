// Which names belong to an env: the one rule portforward (where it launches bastions), exec (where
// it looks for tasks) and cleanup-orphans (where it sweeps) all apply, so the sweeper looks in every
// cluster a bastion can have been launched in.

/** The words of a name: split on anything but letters and digits, lower-cased (`main-stg-eu` → main, stg, eu). */
export function nameWords(name: string): string[] {
  return name
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/**
 * `stg` names `stg-main`, `main-stg-eu`, `app_stg_main`, `stg.main`, `STG-main` and also
 * `prod-stg-mirror` (a name that carries two envs belongs to both); not `stgx-main` or `mystg`.
 */
export function belongsToEnv(name: string, env: string): boolean {
  const word = env.toLowerCase();
  return word.length > 0 && nameWords(name).includes(word);
}

/** The names that belong to `env`; every name when no env is given. */
export function namesOfEnv(names: string[], env: string | undefined): string[] {
  return env ? names.filter((n) => belongsToEnv(n, env)) : names;
}

/** The names that belong to any of `envs`; every name when the list is empty. */
export function namesOfEnvs(names: string[], envs: string[]): string[] {
  return envs.length ? names.filter((n) => envs.some((e) => belongsToEnv(n, e))) : names;
}

/** The env a name suggests when nothing else says: its first word (`stg-main` → stg). */
export function envSuggestedBy(name: string): string | undefined {
  return nameWords(name)[0];
}

const PRODUCTION_WORDS = new Set(["prod", "prd", "production", "live"]);

/** prod, prd-eu, production, live-main: a name a stray Enter must never pick. */
export function looksLikeProduction(name: string): boolean {
  return nameWords(name).some((w) => PRODUCTION_WORDS.has(w));
}

/** `names` in their order, production-like ones moved last: a prompt's first (default) choice is never production. */
export function productionLast(names: string[]): string[] {
  return [...names.filter((n) => !looksLikeProduction(n)), ...names.filter(looksLikeProduction)];
}

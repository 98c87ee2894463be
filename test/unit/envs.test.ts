// The one env-membership rule: where portforward launches, exec looks and cleanup-orphans sweeps.
import { describe, expect, it } from "vitest";
import { belongsToEnv, envSuggestedBy, looksLikeProduction, namesOfEnv, namesOfEnvs, productionLast } from "../../lib/envs.ts";

describe("belongsToEnv", () => {
  const table: Array<[name: string, env: string, belongs: boolean]> = [
    ["stg", "stg", true],
    ["stg-main", "stg", true],
    ["main-stg", "stg", true],
    ["main-stg-eu", "stg", true],
    ["app_stg_main", "stg", true],
    ["stg.main", "stg", true],
    ["stg:main", "stg", true],
    ["STG-Main", "stg", true],
    ["stg-main", "STG", true],
    ["prod-stg-mirror", "stg", true],
    ["prod-stg-mirror", "prod", true],
    ["stg2-main", "stg2", true],
    ["stgx-main", "stg", false],
    ["mystg", "stg", false],
    ["main-stgeu", "stg", false],
    ["staging-main", "stg", false],
    ["prod-main", "stg", false],
    ["stg2-main", "stg", false],
    ["stg-main", "", false],
  ];
  it.each(table)("%s in env %s: %s", (name, env, belongs) => {
    expect(belongsToEnv(name, env)).toBe(belongs);
  });
});

describe("namesOfEnv / namesOfEnvs / envSuggestedBy", () => {
  const clusters = ["stg-main", "main-stg-eu", "app_stg_main", "stg.main", "stgx-main", "prod-main", "prod-stg-mirror", "dev"];
  it("keeps the names of one env, or all without one", () => {
    expect(namesOfEnv(clusters, "stg")).toEqual(["stg-main", "main-stg-eu", "app_stg_main", "stg.main", "prod-stg-mirror"]);
    expect(namesOfEnv(clusters, undefined)).toEqual(clusters);
  });
  it("keeps the names of any of several envs, or all without any", () => {
    expect(namesOfEnvs(clusters, ["dev", "prod"])).toEqual(["prod-main", "prod-stg-mirror", "dev"]);
    expect(namesOfEnvs(clusters, [])).toEqual(clusters);
  });
  it("suggests the first word of a name as its env", () => {
    expect(envSuggestedBy("Stg-main")).toBe("stg");
    expect(envSuggestedBy("--")).toBeUndefined();
  });
});

describe("productionLast", () => {
  it("moves production-like names last and keeps the order otherwise, so Enter never picks production", () => {
    expect(productionLast(["prod-main", "stg-main", "live-eu", "dev", "prd-batch"])).toEqual(["stg-main", "dev", "prod-main", "live-eu", "prd-batch"]);
    expect(["prod", "PRD-eu", "production", "app-live", "product", "stg"].map(looksLikeProduction)).toEqual([true, true, true, true, false, false]);
  });
});

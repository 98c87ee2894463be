// cleanup-orphans' feature, as scripts/cleanup-orphans.mts uses it: list → plan → print → apply.
export { cli } from "./cli.ts";
export { applyPlans, planRegions, resolveSweep, together } from "./sweep.ts";
export { printJson, printPlan, printResults } from "./report.ts";

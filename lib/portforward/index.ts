// portforward's feature, as scripts/portforward.mts uses it: one step per export, in the order they run.
export { cli, type PortforwardFlags } from "./cli.ts";
export { startRun, type Run } from "./run.ts";
export { selectForwards, selectPlacement } from "./select.ts";
export { checkThisMachine, launchOrReuseBastion } from "./launch.ts";
export { tunnelThrough } from "./serve.ts";
export { stopOrKeepBastion } from "./stop.ts";

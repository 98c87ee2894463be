// exec's feature, as scripts/exec.mts uses it: the request, the target, the pre-flight report, the session.
export { cli, type ExecFlags } from "./cli.ts";
export { resolveRequest, secretWarning, type ExecRequest } from "./request.ts";
export { findTarget, type FoundTarget } from "./target.ts";
export { reportChecks, type Failure } from "./preflight.ts";
export { runSession } from "./session.ts";

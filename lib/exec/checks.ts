// exec's pre-flight checks, as pure decisions over facts gathered once (facts.ts): each check is a
// line with ✓ (fine), ✗ (this breaks ECS Exec: the remedy says what to change), ? (could not be
// determined: it says what to check by hand) or ! (works, but is advised against). The checks follow
// aws-containers/amazon-ecs-exec-checker where they apply to Fargate; docs/exec.md lists them.
// They live in checks/ by what they check: the cluster, the task, IAM and the client.
import { MIN_PLUGIN_VERSION } from "../session/versions.ts";
import { clusterChecks, kmsCheck } from "./checks/cluster.ts";
import { pluginCheck } from "./checks/client.ts";
import { callerChecks, taskRoleCheck, taskRoleDecisionChecks } from "./checks/iam.ts";
import type { CheckResult, CheckStatus, ExecFacts } from "./checks/result.ts";
import { isNotConnectedFailure } from "./failure.ts";
import { agentCheck, execEnabledCheck, platformCheck, taskDefinitionChecks, taskRunningCheck } from "./checks/task.ts";

export { isUnknown, type CheckResult, type CheckStatus, type ExecFacts, type Fact, type Unknown } from "./checks/result.ts";
export { kmsKeyArn, LOG_STREAM_ACTIONS, SSMMESSAGES_ACTIONS, taskRoleSimulations, type RoleSimulationInput, type Simulation } from "./checks/iam.ts";

/** Every check, in the report's order. */
export function evaluateChecks(f: ExecFacts): CheckResult[] {
  const results: CheckResult[] = [
    ...clusterChecks(f),
    kmsCheck(f),
    taskRunningCheck(f),
    execEnabledCheck(f),
    agentCheck(f),
    platformCheck(f.task),
    taskRoleCheck(f),
    ...taskRoleDecisionChecks(f),
    ...callerChecks(f),
    ...taskDefinitionChecks(f),
  ];
  if (f.plugin) results.push(pluginCheck(f.plugin, f.minPluginVersion ?? MIN_PLUGIN_VERSION));
  return results;
}

const MARK: Record<CheckStatus, string> = { ok: "✓", fail: "✗", unknown: "?", warn: "!" };

/** The report: one line per check, its remedy indented under it. */
export function formatReport(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.title.length));
  const lines = results.flatMap((r) => [
    `  ${MARK[r.status]} ${r.title.padEnd(width)}  ${r.detail}`,
    ...(r.remedy && r.status !== "ok" ? [`    ${" ".repeat(width + 2)}→ ${r.remedy}`] : []),
  ]);
  return lines.join("\n") + "\n";
}

export function summarize(results: CheckResult[], failure?: ExecFacts["failure"]): string {
  const failed = results.filter((r) => r.status === "fail").length;
  const unknowns = results.filter((r) => r.status === "unknown").length;
  if (failed) return `${failed} check(s) failed (✗): fix those first.`;
  if (failure && isNotConnectedFailure(failure)) {
    return `No check failed, yet Session Manager could not reach the task's agent. Check that the task's subnets reach ssmmessages.<region>.amazonaws.com (a NAT gateway or an ssmmessages VPC endpoint)${unknowns ? ", and the ? lines above" : ""}; a task started seconds ago may need a moment more.`;
  }
  const warnings = results.filter((r) => r.status === "warn").length;
  const notes = [unknowns ? `${unknowns} could not be determined (?)` : "", warnings ? `${warnings} advised against (!)` : ""].filter(Boolean);
  return notes.length ? `No check failed; ${notes.join(", ")}.` : "Every check passed.";
}

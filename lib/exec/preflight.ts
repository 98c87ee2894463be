// The pre-flight report: the facts about one target gathered, judged and printed, for --check and
// after a session that failed to start or ended badly.
import type { AwsClients } from "../aws/clients.ts";
import type { ClientChoice } from "../session/index.ts";
import { evaluateChecks, formatReport, summarize, type CheckResult, type ExecFacts } from "./checks.ts";
import { gatherFacts } from "./facts.ts";
import type { FoundTarget } from "./target.ts";

export type Failure = ExecFacts["failure"];

/** The checks on one target (after `failure`, when ECS Exec failed). */
export async function checkTarget(clients: AwsClients, found: FoundTarget, options: { client: ClientChoice; failure?: Failure }): Promise<CheckResult[]> {
  const { target } = found;
  const facts = await gatherFacts(clients, {
    cluster: found.cluster,
    task: target.task,
    container: target.container,
    service: found.service,
    plugin: options.client === "plugin" ? {} : undefined,
    failure: options.failure,
  });
  return evaluateChecks(facts);
}

/** The report on `out`; true when no check failed. */
export function writeReport(found: FoundTarget, results: CheckResult[], failure: Failure | undefined, out: NodeJS.WritableStream): boolean {
  const { target } = found;
  out.write(`Pre-flight checks for ${target.cluster}/${target.task.taskId}/${target.container}:\n${formatReport(results)}${summarize(results, failure)}\n`);
  return !results.some((r) => r.status === "fail");
}

/** Both: the checks run, the report written. */
export async function reportChecks(
  clients: AwsClients,
  found: FoundTarget,
  options: { client: ClientChoice; failure?: Failure; out: NodeJS.WritableStream },
): Promise<boolean> {
  return writeReport(found, await checkTarget(clients, found, options), options.failure, options.out);
}

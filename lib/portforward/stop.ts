// The end of a run: the bastion kept (only a tunnel the user closed may keep it) or stopped, waited
// for until STOPPED, and what is left of it reported.
import { AwsCallError } from "../aws/errors.ts";
import type { TaskInfo } from "../aws/ecs.ts";
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK } from "../cli.ts";
import { isInterruption } from "../errors.ts";
import { confirm } from "../prompts.ts";
import { stopBastion, StopNotConfirmed } from "./bastion.ts";
import type { HoldResult } from "./hold.ts";
import { keptLines, reportLeftovers } from "./leftovers.ts";
import { createProgress } from "./progress.ts";
import type { Run } from "./run.ts";

type Outcome = HoldResult | { kind: "error"; error: unknown };

/** Ask (default yes; --keep/--stop/--yes answer), StopTask, wait for STOPPED, report anything left. */
export async function stopOrKeepBastion(run: Run, task: TaskInfo, outcome: Outcome): Promise<number> {
  run.interrupts.phase = "stopping";
  // Only a tunnel the user closed may keep its task; a failed start or a dead tunnel always stops it.
  const stop = outcome.kind !== "closed" || (run.settings.stopAnswer ?? (await askToStop(run, task)));
  if (stop) return stopAndReport(run, task, outcome);
  for (const line of keptLines(task, scopeOf(run))) process.stderr.write(line + "\n");
  run.file.log.event("task_kept", { taskArn: task.taskArn });
  return EXIT_OK;
}

/**
 * A closed terminal or a SIGTERM leaves no one to answer: the task is stopped without a question
 * (unless --keep said otherwise), and a question on screen when it came is answered yes.
 */
async function askToStop(run: Run, task: TaskInfo): Promise<boolean> {
  const { unattended } = run.interrupts;
  if (unattended.aborted) return true;
  return confirm({ ...run.prompt, signal: unattended }, `Stop bastion task ${task.taskId}?`, true).catch(() => true);
}

async function stopAndReport(run: Run, task: TaskInfo, outcome: Outcome): Promise<number> {
  const progress = createProgress(`Stopping bastion task ${task.taskId}`, process.stderr);
  progress.update("waiting for STOPPED", 0);
  try {
    const after = await stopBastion(run.clients, task, {
      env: run.settings.env,
      reason: `bastionless portforward: closed by ${run.user}`,
      signal: run.interrupts.stopAbandoned,
    });
    const report = reportLeftovers(after, scopeOf(run));
    run.file.log.event("task_stopped", { ...after, clean: report.clean });
    if (report.clean) {
      progress.done(`Stopped bastion task ${task.taskId}; nothing is left running.`);
      return EXIT_OK;
    }
    progress.done(`Stopped bastion task ${task.taskId}, but something is left:`);
    for (const line of report.lines) process.stderr.write(`  ${line}\n`);
    return EXIT_FAILURE;
  } catch (error) {
    progress.clear();
    if (error instanceof StopNotConfirmed) return stopNotConfirmed(run, task, outcome, error);
    if (!isInterruption(error)) throw error;
    process.stderr.write(`Not waiting: bastion task ${task.taskId} was asked to stop. See what is left with: make cleanup ENV=${run.settings.env}\n`);
    return EXIT_INTERRUPTED;
  }
}

/** After a failed start the error line comes last; this line only says what became of the task. */
function stopNotConfirmed(run: Run, task: TaskInfo, outcome: Outcome, error: StopNotConfirmed): number {
  const failed = outcome.kind === "error" ? outcome.error : undefined;
  const why = failed !== undefined && sameCause(failed, error.reason) ? "for the same reason" : error.reason.message.replace(/\.$/, "");
  const line = `Bastion task ${task.taskId} was asked to stop, but the stop could not be confirmed: ${why}. See what is left with: make cleanup ENV=${run.settings.env}`;
  process.stderr.write(failed !== undefined ? `${line}\n` : `portforward: ${line}\n`);
  return EXIT_FAILURE;
}

/** The start and the stop failed on the same AWS call for the same reason (a denied ecs:DescribeTasks, say). */
export function sameCause(a: unknown, b: unknown): boolean {
  return a instanceof AwsCallError && b instanceof AwsCallError && a.action === b.action && a.errorName === b.errorName;
}

function scopeOf(run: Run) {
  return { profile: run.settings.profile, region: run.region, env: run.settings.env };
}

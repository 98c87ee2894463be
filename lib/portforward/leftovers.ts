// "What was left": after the stop, anything still there is reported with the command that removes it.

export interface AfterStop {
  task: { taskId: string; cluster: string; lastStatus: string; stopped: boolean };
  /** The task's /<env>/portforward/instances/<taskId>, when the bastion registered (or may have). */
  parameter?: { name: string; present: boolean };
  instance?: { instanceId: string; registered: boolean };
}

export interface AwsCliScope {
  profile?: string;
  region?: string;
  env: string;
}

export interface LeftoverReport {
  clean: boolean;
  /** One line per thing left, each with the command that removes it. */
  lines: string[];
}

function scopeArgs(scope: AwsCliScope): string {
  return `${scope.profile ? ` --profile ${scope.profile}` : ""}${scope.region ? ` --region ${scope.region}` : ""}`;
}

export function reportLeftovers(after: AfterStop, scope: AwsCliScope): LeftoverReport {
  const args = scopeArgs(scope);
  const lines: string[] = [];
  const { task } = after;
  if (!task.stopped)
    lines.push(`Bastion task ${task.taskId} is still ${task.lastStatus}: aws ecs stop-task --cluster ${task.cluster} --task ${task.taskId}${args}`);
  if (after.instance?.registered)
    lines.push(
      `Managed instance ${after.instance.instanceId} is still registered: aws ssm deregister-managed-instance --instance-id ${after.instance.instanceId}${args}`,
    );
  if (after.parameter?.present) lines.push(`Parameter ${after.parameter.name} is still there: aws ssm delete-parameter --name ${after.parameter.name}${args}`);
  if (lines.length) lines.push(`Or remove every orphan of ${scope.env} at once: make cleanup ENV=${scope.env} ARGS=--yes`);
  return { clean: lines.length === 0, lines };
}

/** The note printed when the task is left running on purpose (--keep, "n", a third Ctrl-C). */
export function keptLines(task: { taskId: string; cluster: string }, scope: AwsCliScope): string[] {
  return [
    `Bastion task ${task.taskId} is left running (it costs money until stopped). Attach again with --reuse, or stop it with:`,
    `  aws ecs stop-task --cluster ${task.cluster} --task ${task.taskId}${scopeArgs(scope)}`,
  ];
}

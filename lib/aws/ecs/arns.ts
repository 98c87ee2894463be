// The names ECS hands out and Session Manager takes: ARN parts and the ECS Exec target.

/** The last segment of an ARN (`…/stg-main` → `stg-main`, `…/task/c/abc` → `abc`). */
export function lastSegment(arn: string): string {
  return arn.slice(arn.lastIndexOf("/") + 1);
}

/** A task ARN's parts: `arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>`; undefined for anything else. */
export function parseTaskArn(arn: string | undefined): { region: string; account: string; cluster: string; taskId: string } | undefined {
  const m = /^arn:aws[a-z-]*:ecs:([^:]*):([^:]*):task\/([^/]+)\/([^/]+)$/.exec(arn ?? "");
  return m ? { region: m[1], account: m[2], cluster: m[3], taskId: m[4] } : undefined;
}

/** A task ARN names its cluster; undefined for anything that is not a task ARN with one. */
export function clusterOfTaskArn(arn: string | undefined): string | undefined {
  return parseTaskArn(arn)?.cluster;
}

/** The Session Manager target of a container for ECS Exec: `ecs:<cluster>_<taskId>_<runtimeId>` (awscli's executecommand.py). */
export function ecsTarget(task: { cluster: string; taskId: string }, runtimeId: string): string {
  return `ecs:${task.cluster}_${task.taskId}_${runtimeId}`;
}

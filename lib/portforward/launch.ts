// Before anything costs money, this machine is checked; then a bastion is reused (--reuse) or
// launched, and a second one is never started or reused without saying so.
import { lastSegment, type TaskInfo } from "../aws/ecs.ts";
import { getCallerIdentity } from "../aws/sts.ts";
import { describeScope } from "../config.ts";
import { Interrupted } from "../errors.ts";
import { resolveTunnelClient } from "../session/index.ts";
import { launchBastion, listOwnBastions, otherBastionsLine, type Placement } from "./bastion.ts";
import { networkWarning, type PlannedForward } from "./forwards.ts";
import { assertClientAvailable, assertPortsFree, assertSocketsUsable } from "./preflight.ts";
import type { Run } from "./run.ts";

/** Before anything costs money: the local ports are free (on --address) and the chosen client exists. */
export async function checkThisMachine(run: Run, forwards: PlannedForward[]): Promise<void> {
  await assertPortsFree(
    forwards.map((f) => ({ port: f.localPort, flag: f.flag })),
    run.address,
  );
  assertSocketsUsable(forwards.map((f) => f.socketPath));
  await assertClientAvailable(run.client);
  const { note } = await resolveTunnelClient(run.client);
  if (note) run.log.info(note);
  const warning = networkWarning(run.address);
  if (warning) run.log.warn(warning);
}

/** --reuse: this user's running bastion in the cluster; otherwise (or when there is none) RunTask. */
export async function launchOrReuseBastion(run: Run, placement: Placement): Promise<TaskInfo> {
  const who = {
    env: run.settings.env,
    localUser: run.user,
    owner: (await getCallerIdentity(run.clients.sts)).arn,
    defaulted: run.settings.taskDefinitionDefaulted,
  };
  // Bastions cost money while they run: a second one is never launched, or reused, without saying so.
  const mine = await listOwnBastions(run.clients.ecs, placement.cluster, who).catch(() => []);
  if (run.settings.reuse) {
    const [task, ...others] = mine;
    if (task) {
      run.log.info(`Reusing bastion task ${task.taskId} (${task.lastStatus}) in ${placement.cluster}.`);
      const also = otherBastionsLine(others, placement.cluster, true);
      if (also) run.log.info(also);
      return task;
    }
    run.log.info(`No running bastion task of ${run.user} in ${placement.cluster}: launching one.`);
  } else {
    const already = otherBastionsLine(mine, placement.cluster, false);
    if (already) run.log.info(already);
  }
  if (run.interrupts.startAborted.aborted) throw new Interrupted("Interrupted before the bastion was launched; nothing was started.");
  run.log.info(
    describeScope({
      configPath: run.configPath,
      env: run.settings.env,
      profile: run.settings.profile ?? process.env.AWS_PROFILE,
      region: run.region,
      cluster: placement.cluster,
    }),
  );
  const task = await launchBastion(run.clients.ecs, placement, who);
  run.file.log.event("task_launched", {
    taskArn: task.taskArn,
    cluster: placement.cluster,
    service: placement.service,
    taskDefinition: placement.taskDefinition,
  });
  run.log.info(
    `Launched bastion task ${task.taskId} (${lastSegment(placement.taskDefinition)}) in ${placement.cluster} with the network of service ${placement.service}.`,
  );
  return task;
}

// DescribeTasks / StopTask / ListTasks over moto, with our lifecycle and AWS's semantics where
// moto differs (MISSING failures, ListTasks' default desiredStatus and exact cluster match).
import type { CloudContext, Handler } from "../context.ts";
import { ACCOUNT_ID } from "../ids.ts";
import type { TaskRecord } from "../state.ts";
import { isRetained, stopTaskRecord } from "./lifecycle.ts";
import { overlayTask } from "./task-wire.ts";

export function clusterNameOf(cluster: unknown): string {
  return String(cluster ?? "default")
    .split("/")
    .pop()!;
}

const lastSegment = (s: string) => s.split("/").pop()!;

function findRecord(ctx: CloudContext, region: string, cluster: string, task: string): TaskRecord | undefined {
  const id = lastSegment(task);
  return [...ctx.state.tasks.values()].find((t) => t.region === region && t.clusterName === cluster && t.id === id);
}

export const describeTasks: Handler = async (ctx, call) => {
  ctx.tick();
  const cluster = clusterNameOf(call.body.cluster);
  const out = await call.forwardJson();
  const found = new Set<string>();
  out.tasks = (out.tasks ?? []).flatMap((t: any) => {
    const rec = ctx.state.tasks.get(t.taskArn);
    if (rec && !isRetained(ctx, rec)) return [];
    found.add(lastSegment(t.taskArn));
    return [rec ? overlayTask(rec, t) : t];
  });
  // moto answers unknown tasks with no failure at all; AWS reports each as MISSING.
  const failures = [...(out.failures ?? [])];
  for (const requested of (call.body.tasks ?? []) as string[]) {
    if (found.has(lastSegment(requested))) continue;
    const arn = requested.startsWith("arn:") ? requested : `arn:aws:ecs:${call.region}:${ACCOUNT_ID}:task/${cluster}/${requested}`;
    if (!failures.some((f) => f.arn === arn)) failures.push({ arn, reason: "MISSING" });
  }
  out.failures = failures;
  return out;
};

export const stopTask: Handler = async (ctx, call) => {
  ctx.tick();
  const out = await call.forwardJson();
  const rec = findRecord(ctx, call.region, clusterNameOf(call.body.cluster), String(call.body.task));
  if (!rec) return out;
  stopTaskRecord(ctx, rec, call.body.reason);
  // StopTask's answer shows the task on its way down (desiredStatus STOPPED, lastStatus as it is).
  return { ...out, task: overlayTask(rec, out.task ?? {}) };
};

export const listTasks: Handler = async (ctx, call) => {
  ctx.tick();
  const cluster = clusterNameOf(call.body.cluster);
  const desired = call.body.desiredStatus ?? "RUNNING"; // AWS's default; moto lists every task
  if (call.body.serviceName) {
    // moto's services launch no tasks; ours are the ones started in the service's group.
    const arns = [...ctx.state.tasks.values()]
      .filter((t) => t.region === call.region && t.clusterName === cluster && t.group === `service:${call.body.serviceName}` && t.desiredStatus === desired)
      .map((t) => t.arn);
    return { taskArns: arns };
  }
  const out = await call.forwardJson({ ...call.body, desiredStatus: desired });
  out.taskArns = (out.taskArns ?? []).filter((arn: string) => {
    // moto's cluster filter is a substring match; AWS's is exact.
    if (arn.split("/").slice(-2, -1)[0] !== cluster) return false;
    const rec = ctx.state.tasks.get(arn);
    return !rec || (rec.desiredStatus === desired && isRetained(ctx, rec));
  });
  return out;
};

/**
 * moto's RunTask crashes (TypeError) when a container has neither memory nor memoryReservation,
 * which Fargate allows when memory is set at task level. We give such containers a share of the
 * task's memory as memoryReservation on the way in.
 */
export const registerTaskDefinition: Handler = async (_ctx, call) => {
  const defs: any[] = call.body.containerDefinitions ?? [];
  const taskMemory = parseInt(String(call.body.memory ?? ""), 10);
  if (!Number.isFinite(taskMemory) || !defs.length) return call.forwardJson();
  const share = Math.max(6, Math.floor(taskMemory / defs.length));
  const patched = defs.map((cd) => (cd.memory == null && cd.memoryReservation == null ? { ...cd, memoryReservation: share } : cd));
  return call.forwardJson({ ...call.body, containerDefinitions: patched });
};

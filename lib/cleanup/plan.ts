// What the sweeper removes and why: a pure function of the inventory, the time and the thresholds
// (no AWS call in it, so every case is a table test). Every item gets a decision with its reason, kept items included.
import { MANAGED_BY_VALUE, TAG_MANAGED_BY } from "../constants.ts";
import { formatDuration } from "../duration.ts";

export type Kind = "task" | "instance" | "parameter" | "activation";
export type Verb = "stop" | "deregister" | "delete" | "keep";

export interface InstanceItem {
  instanceId: string;
  region: string;
  env?: string;
  /** bastionless:source: an ECS task ARN, cloudrun:…, host:… */
  source?: string;
  pingStatus: string;
  lastPingAt?: Date;
  tags: Record<string, string>;
}

export interface ActivationItem {
  activationId: string;
  region: string;
  env?: string;
  expired: boolean;
  registrationLimit: number;
  registrationsCount: number;
  createdAt: Date;
  tags: Record<string, string>;
}

export interface ParameterItem {
  name: string;
  region: string;
  env: string;
  /** The mi-… id it points at. */
  value: string;
  tags: Record<string, string>;
}

export interface TaskItem {
  taskArn: string;
  region: string;
  cluster: string;
  env?: string;
  startedBy?: string;
  lastStatus: string;
  startedAt?: Date;
  createdAt?: Date;
  tags: Record<string, string>;
}

export interface Inventory {
  instances: InstanceItem[];
  activations: ActivationItem[];
  parameters: ParameterItem[];
  tasks: TaskItem[];
  /**
   * What the sweep knows of the ECS tasks named as instances' sources: their lastStatus, "MISSING"
   * (DescribeTasks answered failure reason MISSING), or `unseen: <why>` (in another region or
   * account, or DescribeTasks could not say): only the first two judge an instance.
   */
  sourceTasks: Record<string, string>;
  /** Instance ids referenced by parameters that SSM still knows (whoever owns them). */
  liveInstanceIds: string[];
}

export interface Decision {
  kind: Kind;
  id: string;
  region: string;
  env?: string;
  action: Verb;
  reason: string;
}

export interface Plan {
  /** In the order they must be applied: tasks, instances, parameters, activations. */
  actions: Decision[];
  kept: Decision[];
}

export interface PlanOptions {
  now: Date;
  staleAfterMs: number;
  taskTtlMs: number;
}

const ORDER: Kind[] = ["task", "instance", "parameter", "activation"];

export function isOurs(tags: Record<string, string>): boolean {
  return tags[TAG_MANAGED_BY] === MANAGED_BY_VALUE;
}

export function planCleanup(inventory: Inventory, options: PlanOptions): Plan {
  const ageOf = (at: Date | undefined) => (at ? options.now.getTime() - at.getTime() : undefined);
  const tasks = planTasks(inventory, options, ageOf);
  const instances = planInstances(inventory, tasks.stopping, options, ageOf);
  const decisions = [
    ...tasks.decisions,
    ...instances.decisions,
    ...planParameters(inventory, instances.leaving),
    ...planActivations(inventory, options, ageOf),
  ];
  const rank = (d: Decision) => ORDER.indexOf(d.kind);
  return {
    actions: decisions.filter((d) => d.action !== "keep").sort((a, b) => rank(a) - rank(b)),
    kept: decisions.filter((d) => d.action === "keep"),
  };
}

type AgeOf = (at: Date | undefined) => number | undefined;
const NOT_OURS = "not ours: no bastionless:managed-by tag";

/** Our bastion tasks past --task-ttl are stopped; `stopping` is what this sweep stops. */
function planTasks(inventory: Inventory, options: PlanOptions, ageOf: AgeOf): { decisions: Decision[]; stopping: Set<string> } {
  const decisions: Decision[] = [];
  const stopping = new Set<string>();
  for (const task of inventory.tasks) {
    const base = { kind: "task" as const, id: task.taskArn, region: task.region, env: task.env };
    if (!isOurs(task.tags)) {
      decisions.push({ ...base, action: "keep", reason: NOT_OURS });
      continue;
    }
    if (task.lastStatus === "STOPPED" || task.lastStatus === "DEPROVISIONING" || task.lastStatus === "STOPPING") {
      decisions.push({ ...base, action: "keep", reason: `already ${task.lastStatus.toLowerCase()}` });
      continue;
    }
    const age = ageOf(task.startedAt ?? task.createdAt);
    if (age !== undefined && age > options.taskTtlMs) {
      stopping.add(task.taskArn);
      decisions.push({ ...base, action: "stop", reason: `running for ${formatDuration(age)}, past --task-ttl ${formatDuration(options.taskTtlMs)}` });
    } else {
      decisions.push({
        ...base,
        action: "keep",
        reason: age === undefined ? "starting" : `running for ${formatDuration(age)}, under --task-ttl ${formatDuration(options.taskTtlMs)}`,
      });
    }
  }
  return { decisions, stopping };
}

/** Our instances whose task is gone or whose agent stopped pinging are deregistered; `leaving` is what goes. */
function planInstances(inventory: Inventory, stoppingTasks: Set<string>, options: PlanOptions, ageOf: AgeOf): { decisions: Decision[]; leaving: Set<string> } {
  const decisions: Decision[] = [];
  const leaving = new Set<string>();
  for (const instance of inventory.instances) {
    const base = { kind: "instance" as const, id: instance.instanceId, region: instance.region, env: instance.env };
    if (!isOurs(instance.tags)) {
      decisions.push({ ...base, action: "keep", reason: NOT_OURS });
      continue;
    }
    const reason = instanceVerdict(instance, inventory, stoppingTasks, options, ageOf);
    if (reason.deregister) leaving.add(instance.instanceId);
    decisions.push({ ...base, action: reason.deregister ? "deregister" : "keep", reason: reason.why });
  }
  return { decisions, leaving };
}

/** Our parameters whose instance is gone, or goes in this sweep, are deleted. */
function planParameters(inventory: Inventory, leaving: Set<string>): Decision[] {
  const live = new Set(inventory.liveInstanceIds);
  for (const instance of inventory.instances) live.add(instance.instanceId);
  return inventory.parameters.map((parameter): Decision => {
    const base = { kind: "parameter" as const, id: parameter.name, region: parameter.region, env: parameter.env };
    if (!isOurs(parameter.tags)) return { ...base, action: "keep", reason: NOT_OURS };
    if (leaving.has(parameter.value)) return { ...base, action: "delete", reason: `its instance ${parameter.value} is being deregistered` };
    if (!live.has(parameter.value)) return { ...base, action: "delete", reason: `its instance ${parameter.value || "(empty)"} is gone` };
    return { ...base, action: "keep", reason: `its instance ${parameter.value} is registered` };
  });
}

/** Our activations that are expired, used up, or unused past --stale-after are deleted. */
function planActivations(inventory: Inventory, options: PlanOptions, ageOf: AgeOf): Decision[] {
  return inventory.activations.map((activation): Decision => {
    const base = { kind: "activation" as const, id: activation.activationId, region: activation.region, env: activation.env };
    const age = ageOf(activation.createdAt) ?? 0;
    if (!isOurs(activation.tags)) return { ...base, action: "keep", reason: NOT_OURS };
    if (activation.expired) return { ...base, action: "delete", reason: "expired" };
    if (activation.registrationsCount >= activation.registrationLimit) {
      return { ...base, action: "delete", reason: `used up (${activation.registrationsCount}/${activation.registrationLimit} registrations)` };
    }
    if (age > options.staleAfterMs)
      return { ...base, action: "delete", reason: `unused for ${formatDuration(age)}, past --stale-after ${formatDuration(options.staleAfterMs)}` };
    return { ...base, action: "keep", reason: `created ${formatDuration(age)} ago, under --stale-after ${formatDuration(options.staleAfterMs)}` };
  });
}

function instanceVerdict(
  instance: InstanceItem,
  inventory: Inventory,
  stoppingTasks: Set<string>,
  options: PlanOptions,
  ageOf: AgeOf,
): { deregister: boolean; why: string } {
  const source = instance.source ?? "";
  const status = source ? inventory.sourceTasks[source] : undefined;
  const online = instance.pingStatus === "Online";
  // The task verdict counts only for a task this sweep can see, and never alone against an agent that
  // still pings: something is running it, and deregistering would cut that machine off.
  const taskGone = whyTaskGone(stoppingTasks.has(source), status);
  if (taskGone && !online) return { deregister: true, why: `${taskGone}, and the instance is ${instance.pingStatus}` };
  if (taskGone && !stoppingTasks.has(source))
    return { deregister: false, why: `online although ${taskGone}: its agent still runs somewhere; kept until it stops pinging` };
  if (taskGone) return { deregister: true, why: taskGone };
  const pingAge = ageOf(instance.lastPingAt);
  if (!online) {
    if (pingAge === undefined || pingAge > options.staleAfterMs) {
      const since = pingAge === undefined ? " with no ping on record" : ` for ${formatDuration(pingAge)}`;
      return { deregister: true, why: `${instance.pingStatus}${since}, past --stale-after ${formatDuration(options.staleAfterMs)}` };
    }
    return { deregister: false, why: `${instance.pingStatus} ${formatDuration(pingAge)} ago, under --stale-after ${formatDuration(options.staleAfterMs)}` };
  }
  if (status?.startsWith("unseen: ")) return { deregister: false, why: `online; its task is not judged: ${status.slice("unseen: ".length)}` };
  return { deregister: false, why: status ? `online, its task is ${status}` : "online" };
}

/** Why an instance's task no longer holds it, if it does not: being stopped by this sweep, gone, or STOPPED. */
function whyTaskGone(beingStopped: boolean, status: string | undefined): string | undefined {
  if (beingStopped) return "its bastion task is being stopped";
  if (status === "MISSING") return "its ECS task no longer exists";
  if (status === "STOPPED") return "its ECS task is STOPPED";
  return undefined;
}

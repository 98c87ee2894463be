// What the sweeper removes and why: a pure function of the inventory, the time and the thresholds
// (STYLE.md §4). Every item gets a decision with its reason, kept items included.
import { MANAGED_BY_VALUE, TAG_MANAGED_BY } from "./constants.ts";
import { formatDuration } from "./duration.ts";

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
  const decisions: Decision[] = [];
  const ageOf = (at: Date | undefined) => (at ? options.now.getTime() - at.getTime() : undefined);

  const stoppingTasks = new Set<string>();
  for (const task of inventory.tasks) {
    const base = { kind: "task" as const, id: task.taskArn, region: task.region, env: task.env };
    if (!isOurs(task.tags)) {
      decisions.push({ ...base, action: "keep", reason: "not ours: no bastionless:managed-by tag" });
      continue;
    }
    if (task.lastStatus === "STOPPED" || task.lastStatus === "DEPROVISIONING" || task.lastStatus === "STOPPING") {
      decisions.push({ ...base, action: "keep", reason: `already ${task.lastStatus.toLowerCase()}` });
      continue;
    }
    const age = ageOf(task.startedAt ?? task.createdAt);
    if (age !== undefined && age > options.taskTtlMs) {
      stoppingTasks.add(task.taskArn);
      decisions.push({ ...base, action: "stop", reason: `running for ${formatDuration(age)}, past --task-ttl ${formatDuration(options.taskTtlMs)}` });
    } else {
      decisions.push({ ...base, action: "keep", reason: age === undefined ? "starting" : `running for ${formatDuration(age)}, under --task-ttl ${formatDuration(options.taskTtlMs)}` });
    }
  }

  const leaving = new Set<string>();
  for (const instance of inventory.instances) {
    const base = { kind: "instance" as const, id: instance.instanceId, region: instance.region, env: instance.env };
    if (!isOurs(instance.tags)) {
      decisions.push({ ...base, action: "keep", reason: "not ours: no bastionless:managed-by tag" });
      continue;
    }
    const reason = instanceVerdict(instance, inventory, stoppingTasks, options, ageOf);
    if (reason.deregister) leaving.add(instance.instanceId);
    decisions.push({ ...base, action: reason.deregister ? "deregister" : "keep", reason: reason.why });
  }

  const live = new Set(inventory.liveInstanceIds);
  for (const instance of inventory.instances) live.add(instance.instanceId);
  for (const parameter of inventory.parameters) {
    const base = { kind: "parameter" as const, id: parameter.name, region: parameter.region, env: parameter.env };
    if (!isOurs(parameter.tags)) {
      decisions.push({ ...base, action: "keep", reason: "not ours: no bastionless:managed-by tag" });
    } else if (leaving.has(parameter.value)) {
      decisions.push({ ...base, action: "delete", reason: `its instance ${parameter.value} is being deregistered` });
    } else if (!live.has(parameter.value)) {
      decisions.push({ ...base, action: "delete", reason: `its instance ${parameter.value || "(empty)"} is gone` });
    } else {
      decisions.push({ ...base, action: "keep", reason: `its instance ${parameter.value} is registered` });
    }
  }

  for (const activation of inventory.activations) {
    const base = { kind: "activation" as const, id: activation.activationId, region: activation.region, env: activation.env };
    const age = ageOf(activation.createdAt) ?? 0;
    if (!isOurs(activation.tags)) {
      decisions.push({ ...base, action: "keep", reason: "not ours: no bastionless:managed-by tag" });
    } else if (activation.expired) {
      decisions.push({ ...base, action: "delete", reason: "expired" });
    } else if (activation.registrationsCount >= activation.registrationLimit) {
      decisions.push({ ...base, action: "delete", reason: `used up (${activation.registrationsCount}/${activation.registrationLimit} registrations)` });
    } else if (age > options.staleAfterMs) {
      decisions.push({ ...base, action: "delete", reason: `unused for ${formatDuration(age)}, past --stale-after ${formatDuration(options.staleAfterMs)}` });
    } else {
      decisions.push({ ...base, action: "keep", reason: `created ${formatDuration(age)} ago, under --stale-after ${formatDuration(options.staleAfterMs)}` });
    }
  }

  const rank = (d: Decision) => ORDER.indexOf(d.kind);
  return {
    actions: decisions.filter((d) => d.action !== "keep").sort((a, b) => rank(a) - rank(b)),
    kept: decisions.filter((d) => d.action === "keep"),
  };
}

function instanceVerdict(
  instance: InstanceItem,
  inventory: Inventory,
  stoppingTasks: Set<string>,
  options: PlanOptions,
  ageOf: (at: Date | undefined) => number | undefined,
): { deregister: boolean; why: string } {
  const source = instance.source ?? "";
  const status = source ? inventory.sourceTasks[source] : undefined;
  const online = instance.pingStatus === "Online";
  // The task verdict counts only for a task this sweep can see, and never alone against an agent that
  // still pings: something is running it, and deregistering would cut that machine off.
  const taskGone = stoppingTasks.has(source) ? "its bastion task is being stopped" : status === "MISSING" ? "its ECS task no longer exists" : status === "STOPPED" ? "its ECS task is STOPPED" : undefined;
  if (taskGone && !online) return { deregister: true, why: `${taskGone}, and the instance is ${instance.pingStatus}` };
  if (taskGone && !stoppingTasks.has(source)) return { deregister: false, why: `online although ${taskGone}: its agent still runs somewhere; kept until it stops pinging` };
  if (taskGone) return { deregister: true, why: taskGone };
  const pingAge = ageOf(instance.lastPingAt);
  if (!online) {
    if (pingAge === undefined || pingAge > options.staleAfterMs) {
      return { deregister: true, why: `${instance.pingStatus}${pingAge === undefined ? " with no ping on record" : ` for ${formatDuration(pingAge)}`}, past --stale-after ${formatDuration(options.staleAfterMs)}` };
    }
    return { deregister: false, why: `${instance.pingStatus} ${formatDuration(pingAge)} ago, under --stale-after ${formatDuration(options.staleAfterMs)}` };
  }
  if (status?.startsWith("unseen: ")) return { deregister: false, why: `online; its task is not judged: ${status.slice("unseen: ".length)}` };
  return { deregister: false, why: status ? `online, its task is ${status}` : "online" };
}

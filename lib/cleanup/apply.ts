// The sweeper's effects: apply a plan (bounded concurrency, item by item, past failures).
import { clusterOfTaskArn, lastSegment, stopTask } from "../aws/ecs.ts";
import { deleteActivation, deleteParameter, deregisterInstance } from "../aws/ssm.ts";
import { mapLimit, type SweepClients } from "./inventory.ts";
import type { Decision, Plan } from "./plan.ts";

export interface Outcome extends Decision {
  ok: boolean;
  /** "done", "already gone", or the one-line error. */
  detail: string;
  durationMs: number;
}

/**
 * Applies the plan kind by kind in its order (tasks, instances, parameters, activations), at most
 * `concurrency` calls in flight, continuing past failures. `onOutcome` sees each item as it ends.
 */
export async function applyPlan(clients: SweepClients, plan: Plan, options: { concurrency: number; onOutcome?: (o: Outcome) => void }): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const kind of ["task", "instance", "parameter", "activation"] as const) {
    const batch = plan.actions.filter((d) => d.kind === kind);
    const done = await mapLimit(batch, options.concurrency, async (decision) => {
      const started = Date.now();
      let outcome: Outcome;
      try {
        const removed = await applyOne(clients, decision);
        outcome = { ...decision, ok: true, detail: removed ? "done" : "already gone", durationMs: Date.now() - started };
      } catch (error) {
        outcome = { ...decision, ok: false, detail: (error as Error).message, durationMs: Date.now() - started };
      }
      options.onOutcome?.(outcome);
      return outcome;
    });
    outcomes.push(...done);
  }
  return outcomes;
}

async function applyOne(clients: SweepClients, decision: Decision): Promise<boolean> {
  switch (decision.kind) {
    case "task": {
      const cluster = clusterOfTaskArn(decision.id) ?? "";
      await stopTask(clients.ecs, cluster, decision.id, `bastionless cleanup-orphans: ${decision.reason}`);
      return true;
    }
    case "instance":
      return deregisterInstance(clients.ssm, decision.id);
    case "parameter":
      return deleteParameter(clients.ssm, decision.id);
    case "activation":
      return deleteActivation(clients.ssm, decision.id);
  }
}

/** Short ids for tables: the task id of an ARN, the rest as they are. */
export function shortId(decision: Decision): string {
  return decision.kind === "task" ? `${clusterOfTaskArn(decision.id) ?? "?"}/${lastSegment(decision.id)}` : decision.id;
}

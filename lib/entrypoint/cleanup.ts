// Removing what registration created, inside the grace period: the steps run in parallel, each is
// attempted whatever the others do, each retries (throttling, 5xx, timeouts) until the deadline.
import type { SSMClient } from "@aws-sdk/client-ssm";
import type { Logger } from "../log.ts";
import { deleteActivation, deleteParameter, deregisterInstance, findInstanceParameter, listManagedInstances } from "../aws/ssm.ts";
import type { Created } from "./registration.ts";
import { withRetries, type RetryPolicy } from "../retry.ts";

export type CleanupStepName = "agent" | "instance" | "parameter" | "activation";

export interface CleanupStep {
  step: CleanupStepName;
  ok: boolean;
  /** What was done: "deregistered", "deleted", "already gone", "stopped", "kept: …", "nothing to do". */
  outcome: string;
  durationMs: number;
  error?: string;
}

export interface CleanupDeps {
  /** A client with a short request timeout and maxAttempts 1: the retries here know the deadline. */
  ssm: SSMClient;
  log: Logger;
  retry?: Pick<RetryPolicy, "baseMs" | "capMs">;
  /** How long the agent gets between SIGTERM and SIGKILL. */
  agentStopMs?: number;
}

export const CLEANUP_RETRY = { baseMs: 100, capMs: 1_000 };
/** Kept free before the deadline for the exit itself. */
const MARGIN_MS = 100;

/** Runs every cleanup step for `created` before `deadline` (epoch ms); never throws. */
export async function cleanupRegistration(created: Created, deps: CleanupDeps, deadline: number, options: { sharedParameter?: boolean } = {}): Promise<CleanupStep[]> {
  const policy = { ...CLEANUP_RETRY, ...deps.retry, attempts: Number.POSITIVE_INFINITY, deadline: deadline - MARGIN_MS };
  const retrying = <T>(step: CleanupStepName, run: (abortSignal: AbortSignal) => Promise<T>) =>
    withRetries(({ abortSignal }) => run(abortSignal), policy, {
      onRetry: (error, attempt, delayMs) => deps.log.event("retry", { level: "warn", step: `cleanup-${step}`, attempt, delayMs, error: (error as Error).message }),
    });

  const steps: Record<CleanupStepName, () => Promise<string>> = {
    agent: async () => {
      if (!created.agent) return "nothing to do";
      await created.agent.stop(Math.max(0, Math.min(deps.agentStopMs ?? 2_000, deadline - MARGIN_MS - Date.now())));
      return "stopped";
    },

    instance: async () => {
      if (created.instanceDeregistered) return "nothing to do";
      let ids = created.instanceId ? [created.instanceId] : [];
      // -register was cut short: the instance may exist though we never saw its id; its activation finds it.
      if (!ids.length && created.registerStarted && created.activationId) {
        const found = await retrying("instance", (abortSignal) => listManagedInstances(deps.ssm, { activationIds: [created.activationId!] }, { abortSignal }));
        ids = found.map((i) => i.instanceId);
      }
      if (!ids.length) return "nothing to do";
      const results = await Promise.all(ids.map((id) => retrying("instance", (abortSignal) => deregisterInstance(deps.ssm, id, { abortSignal }))));
      created.instanceDeregistered = true;
      return `${results.some(Boolean) ? "deregistered" : "already gone"} ${ids.join(",")}`;
    },

    parameter: async () => {
      if (!created.parameterSent || created.parameterDeleted || !created.parameterName) return "nothing to do";
      const name = created.parameterName;
      if (options.sharedParameter) {
        // A name set by BASTION_PARAMETER_NAME may have been taken over by a newer container since.
        const value = await retrying("parameter", (abortSignal) => findInstanceParameter(deps.ssm, name, { abortSignal }));
        if (value !== undefined && value !== created.instanceId) return `kept: ${name} now holds ${value}`;
      }
      const deleted = await retrying("parameter", (abortSignal) => deleteParameter(deps.ssm, name, { abortSignal }));
      created.parameterDeleted = true;
      return deleted ? `deleted ${name}` : `already gone ${name}`;
    },

    activation: async () => {
      if (!created.activationId || created.activationDeleted) return "nothing to do";
      const deleted = await retrying("activation", (abortSignal) => deleteActivation(deps.ssm, created.activationId!, { abortSignal }));
      created.activationDeleted = true;
      return deleted ? `deleted ${created.activationId}` : `already gone ${created.activationId}`;
    },
  };

  const results = await Promise.all(
    (Object.keys(steps) as CleanupStepName[]).map(async (step): Promise<CleanupStep> => {
      const started = Date.now();
      try {
        const outcome = await steps[step]();
        return { step, ok: true, outcome, durationMs: Date.now() - started };
      } catch (error) {
        return { step, ok: false, outcome: "failed", durationMs: Date.now() - started, error: (error as Error).message };
      }
    }),
  );
  for (const r of results) {
    if (r.outcome === "nothing to do") continue;
    deps.log.event("cleanup_step", { level: r.ok ? "info" : "error", ...r });
  }
  return results;
}

// Removing what registration created, inside the grace period: the steps run in parallel, each is
// attempted whatever the others do, each retries (throttling, 5xx, timeouts) until the deadline.
import type { SSMClient } from "@aws-sdk/client-ssm";
import type { Logger } from "../log.ts";
import { deleteActivation, deleteParameter, deregisterInstance, findInstanceParameter, listManagedInstances } from "../aws/ssm.ts";
import type { Created } from "./registration.ts";
import { isRetryable } from "../aws/errors.ts";
import { withRetries, type RetryPolicy } from "../retry.ts";
import { isAccessDenied } from "../aws/errors.ts";

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
  /** The steps to run (default CLEANUP_STEPS); the reliability suite's mutant passes a list with one replaced. */
  steps?: readonly CleanupStepSpec[];
}

/** One step of the cleanup: it resolves with its outcome ("nothing to do" is not logged) or throws. */
export interface CleanupStepSpec {
  step: CleanupStepName;
  run(context: CleanupContext): Promise<string>;
}

export const CLEANUP_RETRY = { baseMs: 100, capMs: 1_000 };
/** Kept free before the deadline for the exit itself. */
const MARGIN_MS = 100;

/**
 * A delete that AWS refused, of something that is gone: false ("already gone"). The task role may
 * remove only what carries our tags, and what no longer exists carries none, so AWS answers
 * AccessDenied, not "not found", once a sweep (or an earlier attempt whose answer was lost) removed
 * it. A read tells the two apart; while the thing is still there the refusal stands.
 */
async function goneWhenRefused(remove: () => Promise<boolean>, stillThere: () => Promise<boolean>): Promise<boolean> {
  try {
    return await remove();
  } catch (error) {
    if (!isAccessDenied(error) || (await stillThere().catch(() => true))) throw error;
    return false;
  }
}

/** Runs every cleanup step for `created` before `deadline` (epoch ms), in parallel; never throws. */
export async function cleanupRegistration(
  created: Created,
  deps: CleanupDeps,
  deadline: number,
  options: { sharedParameter?: boolean } = {},
): Promise<CleanupStep[]> {
  const context: CleanupContext = { created, deps, deadline, sharedParameter: options.sharedParameter, retrying: retryingUntil(deadline, deps) };
  const results = await Promise.all((deps.steps ?? CLEANUP_STEPS).map(({ step, run }) => runStep(step, () => run(context))));
  for (const r of results) {
    if (r.outcome === "nothing to do") continue;
    deps.log.event("cleanup_step", { level: r.ok ? "info" : "error", ...r });
  }
  return results;
}

type Retrying = <T>(step: CleanupStepName, run: (abortSignal: AbortSignal) => Promise<T>) => Promise<T>;

/** What one step sees: the registration's record, the deps, the deadline, and retries bounded by it. */
export interface CleanupContext {
  created: Created;
  deps: CleanupDeps;
  deadline: number;
  sharedParameter?: boolean;
  retrying: Retrying;
}

/** Retries a step's AWS call until just before the deadline, logging each retry. */
function retryingUntil(deadline: number, deps: CleanupDeps): Retrying {
  const policy = { ...CLEANUP_RETRY, ...deps.retry, attempts: Number.POSITIVE_INFINITY, deadline: deadline - MARGIN_MS };
  return (step, run) =>
    withRetries(({ abortSignal }) => run(abortSignal), policy, {
      retryable: isRetryable,
      onRetry: (error, attempt, delayMs) =>
        deps.log.event("retry", { level: "warn", step: `cleanup-${step}`, attempt, delayMs, error: (error as Error).message }),
    });
}

async function runStep(step: CleanupStepName, run: () => Promise<string>): Promise<CleanupStep> {
  const started = Date.now();
  try {
    const outcome = await run();
    return { step, ok: true, outcome, durationMs: Date.now() - started };
  } catch (error) {
    return { step, ok: false, outcome: "failed", durationMs: Date.now() - started, error: (error as Error).message };
  }
}

async function stopAgent({ created, deps, deadline }: CleanupContext): Promise<string> {
  if (!created.agent) return "nothing to do";
  await created.agent.stop(Math.max(0, Math.min(deps.agentStopMs ?? 2_000, deadline - MARGIN_MS - Date.now())));
  return "stopped";
}

async function deregisterInstances(context: CleanupContext): Promise<string> {
  const { created, deps, retrying } = context;
  if (created.instanceDeregistered) return "nothing to do";
  const ids = await instancesToDeregister(context);
  if (!ids.length) return "nothing to do";
  const results = await Promise.all(
    ids.map((id) =>
      retrying("instance", (abortSignal) =>
        goneWhenRefused(
          () => deregisterInstance(deps.ssm, id, { abortSignal }),
          async () => (await listManagedInstances(deps.ssm, { instanceIds: [id] }, { abortSignal })).length > 0,
        ),
      ),
    ),
  );
  created.instanceDeregistered = true;
  return `${results.some(Boolean) ? "deregistered" : "already gone"} ${ids.join(",")}`;
}

async function instancesToDeregister({ created, deps, retrying }: CleanupContext): Promise<string[]> {
  if (created.instanceId) return [created.instanceId];
  // -register was cut short: the instance may exist though we never saw its id; its activation finds it.
  if (!created.registerStarted || !created.activationId) return [];
  const activationId = created.activationId;
  const found = await retrying("instance", (abortSignal) => listManagedInstances(deps.ssm, { activationIds: [activationId] }, { abortSignal }));
  return found.map((i) => i.instanceId);
}

async function deleteOurParameter({ created, deps, sharedParameter, retrying }: CleanupContext): Promise<string> {
  if (!created.parameterSent || created.parameterDeleted || !created.parameterName) return "nothing to do";
  const name = created.parameterName;
  if (sharedParameter) {
    // A name set by BASTION_PARAMETER_NAME may have been taken over by a newer container since.
    const value = await retrying("parameter", (abortSignal) => findInstanceParameter(deps.ssm, name, { abortSignal }));
    if (value !== undefined && value !== created.instanceId) return `kept: ${name} now holds ${value}`;
  }
  const deleted = await retrying("parameter", (abortSignal) =>
    goneWhenRefused(
      () => deleteParameter(deps.ssm, name, { abortSignal }),
      async () => (await findInstanceParameter(deps.ssm, name, { abortSignal })) !== undefined,
    ),
  );
  created.parameterDeleted = true;
  return deleted ? `deleted ${name}` : `already gone ${name}`;
}

async function deleteOurActivation({ created, deps, retrying }: CleanupContext): Promise<string> {
  if (!created.activationId || created.activationDeleted) return "nothing to do";
  const deleted = await retrying("activation", (abortSignal) => deleteActivation(deps.ssm, created.activationId!, { abortSignal }));
  created.activationDeleted = true;
  return deleted ? `deleted ${created.activationId}` : `already gone ${created.activationId}`;
}

/** The cleanup: each step attempted whatever the others do. */
export const CLEANUP_STEPS: readonly CleanupStepSpec[] = [
  { step: "agent", run: stopAgent },
  { step: "instance", run: deregisterInstances },
  { step: "parameter", run: deleteOurParameter },
  { step: "activation", run: deleteOurActivation },
];

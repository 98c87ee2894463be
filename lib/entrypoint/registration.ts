// Registration, beside the app: source → activation → agent -register → delete the activation →
// parameter → agent. Every resource is recorded in `created` the moment it may exist, so that the
// cleanup (cleanup.ts) knows what to remove whenever the stop comes.
import type { SSMClient } from "@aws-sdk/client-ssm";
import { ourTags, parameterName as defaultParameterName } from "../constants.ts";
import { registerSecret, type Logger } from "../log.ts";
import { createActivation, deleteActivation, putInstanceParameter } from "../aws/ssm.ts";
import type { Backoff, RestartingChild } from "../process.ts";
import type { EntrypointConfig } from "./config.ts";
import type { Source } from "./source.ts";
import { withRetries, type RetryPolicy } from "../retry.ts";
import { RegisterFailed, clearAgentState, registerAgent, startAgent } from "./agent.ts";

/** What registration has created so far (or may have: a request in flight counts). */
export interface Created {
  source?: Source;
  parameterName?: string;
  activationId?: string;
  activationDeleted?: boolean;
  /** The agent's -register ran (or runs): an instance may exist even without an id. */
  registerStarted?: boolean;
  instanceId?: string;
  instanceDeregistered?: boolean;
  /** PutParameter was sent: the parameter may exist. */
  parameterSent?: boolean;
  parameterDeleted?: boolean;
  agent?: RestartingChild;
}

export type RegistrationConfig = Pick<EntrypointConfig, "env" | "iamRole" | "region" | "instanceName" | "parameterName" | "tags" | "activationTtlMs" | "agentBin" | "registrationFile">;

export interface RegistrationDeps {
  ssm: SSMClient;
  log: Logger;
  findSource: () => Promise<Source>;
  now?: () => Date;
  /** The agent's environment (default process.env). */
  agentEnv?: NodeJS.ProcessEnv;
  agentBackoff?: Backoff;
  /** AWS calls at start: patient, since the app is already running. */
  retry?: Pick<RetryPolicy, "attempts" | "baseMs" | "capMs">;
  registerRetry?: Pick<RetryPolicy, "attempts" | "baseMs" | "capMs">;
}

export const REGISTRATION_RETRY = { attempts: 10, baseMs: 200, capMs: 5_000 };
export const REGISTER_COMMAND_RETRY = { attempts: 5, baseMs: 500, capMs: 5_000 };
export const AGENT_BACKOFF: Backoff = { initialMs: 1_000, maxMs: 30_000, resetAfterMs: 60_000 };

/** Thrown when a stop arrived between two steps: not a failure, the cleanup takes over. */
export class RegistrationStopped extends Error {
  override name = "RegistrationStopped";
}

export class RegistrationFailed extends Error {
  override name = "RegistrationFailed";
  constructor(readonly step: string, options: { cause: unknown }) {
    super(`Registration failed at ${step}: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

/**
 * Runs registration to the running agent and returns the managed instance id. `stop` ends it
 * between steps (the request in flight finishes); `abort` also cancels the request in flight.
 */
export async function register(config: RegistrationConfig, deps: RegistrationDeps, created: Created, signals: { stop: AbortSignal; abort: AbortSignal }): Promise<string> {
  const { ssm, log } = deps;
  const now = deps.now ?? (() => new Date());
  const policy = { ...REGISTRATION_RETRY, ...deps.retry, signal: signals.abort, stop: signals.stop };
  const onRetry = (step: string) => (error: unknown, attempt: number, delayMs: number) =>
    log.event("retry", { level: "warn", step, attempt, delayMs, error: (error as Error).message });
  const checkpoint = () => {
    if (signals.stop.aborted) throw new RegistrationStopped("Registration stopped: the container is shutting down.");
  };
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    checkpoint();
    try {
      return await run();
    } catch (error) {
      if (error instanceof RegistrationStopped || signals.stop.aborted) throw new RegistrationStopped(`Registration stopped during ${name}.`, { cause: error });
      throw new RegistrationFailed(name, { cause: error });
    }
  };

  const source = await step("source", deps.findSource);
  created.source = source;
  created.parameterName = config.parameterName ?? defaultParameterName(config.env, source.sourceId);
  log.event("source_found", { platform: source.platform, source: source.source, ...(source.fallbackReason ? { fallbackReason: source.fallbackReason } : {}) });

  const removed = await step("clear-agent-state", () => clearAgentState(config.registrationFile));
  if (removed.length) log.event("agent_state_cleared", { removed });

  const tags = { ...config.tags, ...ourTags(config.env, source.source, now()) };
  const expiresAt = new Date(now().getTime() + config.activationTtlMs);
  const activation = await step("create-activation", () =>
    withRetries(
      async ({ abortSignal }) => {
        const created = await createActivation(
          ssm,
          { iamRole: config.iamRole, expiresAt, registrationLimit: 1, defaultInstanceName: config.instanceName ?? defaultInstanceName(config.env, source.sourceId), description: `bastionless entrypoint: ${source.source}`.slice(0, 256), tags },
          { abortSignal },
        );
        registerSecret(created.activationCode);
        return created;
      },
      policy,
      { onRetry: onRetry("create-activation") },
    ),
  );
  created.activationId = activation.activationId;
  log.event("activation_created", { activationId: activation.activationId, expiresAt: expiresAt.toISOString() });

  const instanceId = await step("register", () => {
    created.registerStarted = true;
    return withRetries(
      ({ abortSignal }) =>
        registerAgent({
          agentBin: config.agentBin,
          activationId: activation.activationId,
          activationCode: activation.activationCode,
          region: config.region,
          registrationFile: config.registrationFile,
          env: deps.agentEnv,
          abortSignal,
          onLine: (stream, line) => log.event("agent_output", { phase: "register", stream, line }),
        }),
      { ...REGISTER_COMMAND_RETRY, ...deps.registerRetry, signal: signals.abort, stop: signals.stop },
      // A failed run is retried (the agent exits 1 on network and throttling errors); a missing binary or a refusal is not.
      { retryable: (error) => error instanceof RegisterFailed && !error.final && !error.exit?.error && error.exit !== undefined, onRetry: onRetry("register") },
    );
  });
  created.instanceId = instanceId;
  log.event("registered", { instanceId, activationId: activation.activationId });

  // The code can register no one else now; deleting the activation at once closes the window entirely.
  await step("delete-activation", async () => {
    try {
      await withRetries(({ abortSignal }) => deleteActivation(ssm, activation.activationId, { abortSignal }), policy, { onRetry: onRetry("delete-activation") });
      created.activationDeleted = true;
      log.event("activation_deleted", { activationId: activation.activationId });
    } catch (error) {
      if (signals.stop.aborted) throw error;
      // Not fatal: its one registration is used up; the cleanup tries again at shutdown.
      log.event("activation_delete_failed", { level: "warn", activationId: activation.activationId, error: (error as Error).message });
    }
  });

  await step("put-parameter", () => {
    created.parameterSent = true;
    return withRetries(({ abortSignal }) => putInstanceParameter(ssm, { name: created.parameterName!, instanceId, tags }, { abortSignal }), policy, {
      onRetry: onRetry("put-parameter"),
    });
  });
  log.event("parameter_written", { parameter: created.parameterName, instanceId });

  checkpoint();
  created.agent = startAgent({
    agentBin: config.agentBin,
    env: deps.agentEnv,
    backoff: deps.agentBackoff ?? AGENT_BACKOFF,
    onLine: (stream, line) => log.event("agent_output", { stream, line }),
    onStart: (pid, run) => log.event(run === 0 ? "agent_started" : "agent_restarted", { pid, ...(run ? { restarts: run } : {}) }),
    onExit: (exit, restartInMs, runMs) =>
      log.event("agent_exited", { level: "warn", code: exit.code, signal: exit.signal, ranMs: runMs, restartInMs, ...(exit.error ? { error: exit.error.message } : {}) }),
  });
  return instanceId;
}

/** `bastionless-<env>-<source id>`, within the 256 characters and the alphabet AWS allows. */
export function defaultInstanceName(env: string, sourceId: string): string {
  return `bastionless-${env}-${sourceId}`.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, "-").slice(0, 256);
}

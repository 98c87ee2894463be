// Registration, beside the app: source → activation → agent -register → delete the activation →
// parameter → agent. Every resource is recorded in `created` the moment it may exist, so that the
// cleanup (cleanup.ts) knows what to remove whenever the stop comes.
import type { SSMClient } from "@aws-sdk/client-ssm";
import { TAG_WRITER_ID, ourTags, parameterName as defaultParameterName } from "../constants.ts";
import { registerSecret, type Logger } from "../log.ts";
import { createActivation, deleteActivation, putInstanceParameter, type Activation } from "../aws/ssm.ts";
import { isAccessDenied } from "../aws/errors.ts";
import type { Backoff, RestartingChild } from "../process.ts";
import type { EntrypointConfig } from "./config.ts";
import type { Source } from "./source.ts";
import { isRetryable } from "../aws/errors.ts";
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

export type RegistrationConfig = Pick<
  EntrypointConfig,
  "env" | "iamRole" | "region" | "instanceName" | "parameterName" | "tags" | "activationTtlMs" | "agentBin" | "registrationFile"
>;

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
  /**
   * The caller's aws:userid (sts:GetCallerIdentity): tagged on the parameter as its owner, so that
   * docker/iam/'s policy lets no other container of the env rewrite or delete it.
   */
  callerUserId?: () => Promise<string>;
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
  constructor(
    readonly step: string,
    options: { cause: unknown },
  ) {
    super(`Registration failed at ${step}: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

/**
 * Runs registration to the running agent and returns the managed instance id. `stop` ends it
 * between steps (the request in flight finishes); `abort` also cancels the request in flight.
 */
export async function register(config: RegistrationConfig, deps: RegistrationDeps, created: Created, signals: RegistrationSignals): Promise<string> {
  const run = new RegistrationRun(config, deps, created, signals);
  const source = await run.findSource();
  await run.clearAgentState();
  const tags = run.tagsFor(source);
  const activation = await run.createActivation(source, tags);
  const instanceId = await run.registerAgent(activation);
  await run.deleteActivation(activation);
  await run.writeParameter(instanceId, tags);
  run.startAgent();
  return instanceId;
}

export interface RegistrationSignals {
  stop: AbortSignal;
  abort: AbortSignal;
}

/** One registration's steps, each recording in `created` what it may have made before it runs. */
class RegistrationRun {
  private readonly now: () => Date;
  private readonly policy: RetryPolicy;

  constructor(
    private readonly config: RegistrationConfig,
    private readonly deps: RegistrationDeps,
    private readonly created: Created,
    private readonly signals: RegistrationSignals,
  ) {
    this.now = deps.now ?? (() => new Date());
    this.policy = { ...REGISTRATION_RETRY, ...deps.retry, signal: signals.abort, stop: signals.stop };
  }

  async findSource(): Promise<Source> {
    const { config, created, deps } = this;
    const source = await this.step("source", deps.findSource);
    created.source = source;
    created.parameterName = config.parameterName ?? defaultParameterName(config.env, source.sourceId);
    deps.log.event("source_found", {
      platform: source.platform,
      source: source.source,
      ...(source.fallbackReason ? { fallbackReason: source.fallbackReason } : {}),
    });
    return source;
  }

  async clearAgentState(): Promise<void> {
    const removed = await this.step("clear-agent-state", () => clearAgentState(this.config.registrationFile));
    if (removed.length) this.deps.log.event("agent_state_cleared", { removed });
  }

  tagsFor(source: Source): Record<string, string> {
    return { ...this.config.tags, ...ourTags(this.config.env, source.source, this.now()) };
  }

  async createActivation(source: Source, tags: Record<string, string>): Promise<Activation> {
    const { config, deps } = this;
    const expiresAt = new Date(this.now().getTime() + config.activationTtlMs);
    const request = {
      iamRole: config.iamRole,
      expiresAt,
      registrationLimit: 1,
      defaultInstanceName: config.instanceName ?? defaultInstanceName(config.env, source.sourceId),
      description: `bastionless entrypoint: ${source.source}`.slice(0, 256),
      tags,
    };
    const activation = await this.step("create-activation", () =>
      this.withAwsRetries("create-activation", async (abortSignal) => {
        const made = await createActivation(deps.ssm, request, { abortSignal });
        registerSecret(made.activationCode);
        return made;
      }),
    );
    this.created.activationId = activation.activationId;
    deps.log.event("activation_created", { activationId: activation.activationId, expiresAt: expiresAt.toISOString() });
    return activation;
  }

  async registerAgent(activation: Activation): Promise<string> {
    const { config, deps, signals } = this;
    const instanceId = await this.step("register", () => {
      this.created.registerStarted = true;
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
            onLine: (stream, line) => deps.log.event("agent_output", { phase: "register", stream, line }),
          }),
        { ...REGISTER_COMMAND_RETRY, ...deps.registerRetry, signal: signals.abort, stop: signals.stop },
        { retryable: isRetryableRegisterFailure, onRetry: this.onRetry("register") },
      );
    });
    this.created.instanceId = instanceId;
    deps.log.event("registered", { instanceId, activationId: activation.activationId });
    return instanceId;
  }

  /** The code can register no one else now; deleting the activation at once closes the window entirely. */
  async deleteActivation(activation: Activation): Promise<void> {
    const { deps } = this;
    const { activationId } = activation;
    await this.step("delete-activation", async () => {
      try {
        await this.withAwsRetries("delete-activation", (abortSignal) => deleteActivation(deps.ssm, activationId, { abortSignal }));
        this.created.activationDeleted = true;
        deps.log.event("activation_deleted", { activationId });
      } catch (error) {
        if (this.signals.stop.aborted) throw error;
        // Not fatal: its one registration is used up; the cleanup tries again at shutdown.
        deps.log.event("activation_delete_failed", { level: "warn", activationId, error: (error as Error).message });
      }
    });
  }

  async writeParameter(instanceId: string, tags: Record<string, string>): Promise<void> {
    const { created, deps } = this;
    const owner = await this.findOwner();
    const parameterTags = owner ? { ...tags, [TAG_WRITER_ID]: owner } : tags;
    await this.step("put-parameter", async () => {
      created.parameterSent = true;
      try {
        return await this.withAwsRetries("put-parameter", (abortSignal) =>
          putInstanceParameter(deps.ssm, { name: created.parameterName!, instanceId, tags: parameterTags }, { abortSignal }),
        );
      } catch (error) {
        // A refusal is the same for every attempt, so none wrote it: there is nothing to delete (and
        // DeleteParameter would be refused too, since the role may delete only a parameter it wrote).
        if (isAccessDenied(error)) created.parameterSent = false;
        throw error;
      }
    });
    deps.log.event("parameter_written", { parameter: created.parameterName, instanceId });
  }

  startAgent(): void {
    const { config, deps } = this;
    const { log } = deps;
    this.checkpoint();
    this.created.agent = startAgent({
      agentBin: config.agentBin,
      env: deps.agentEnv,
      backoff: deps.agentBackoff ?? AGENT_BACKOFF,
      onLine: (stream, line) => log.event("agent_output", { stream, line }),
      onStart: (pid, run) => log.event(run === 0 ? "agent_started" : "agent_restarted", { pid, ...(run ? { restarts: run } : {}) }),
      onExit: (exit, restartInMs, runMs) =>
        log.event("agent_exited", {
          level: "warn",
          code: exit.code,
          signal: exit.signal,
          ranMs: runMs,
          restartInMs,
          ...(exit.error ? { error: exit.error.message } : {}),
        }),
    });
  }

  private async findOwner(): Promise<string | undefined> {
    const { callerUserId } = this.deps;
    if (!callerUserId) return undefined;
    return this.step("caller-identity", () =>
      withRetries(() => callerUserId(), this.policy, { retryable: isRetryable, onRetry: this.onRetry("caller-identity") }),
    );
  }

  private withAwsRetries<T>(step: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return withRetries(({ abortSignal }) => call(abortSignal), this.policy, { retryable: isRetryable, onRetry: this.onRetry(step) });
  }

  private onRetry(step: string) {
    return (error: unknown, attempt: number, delayMs: number) =>
      this.deps.log.event("retry", { level: "warn", step, attempt, delayMs, error: (error as Error).message });
  }

  private checkpoint(): void {
    if (this.signals.stop.aborted) throw new RegistrationStopped("Registration stopped: the container is shutting down.");
  }

  private async step<T>(name: string, run: () => Promise<T>): Promise<T> {
    this.checkpoint();
    try {
      return await run();
    } catch (error) {
      if (error instanceof RegistrationStopped || this.signals.stop.aborted)
        throw new RegistrationStopped(`Registration stopped during ${name}.`, { cause: error });
      throw new RegistrationFailed(name, { cause: error });
    }
  }
}

/** A failed run is retried (the agent exits 1 on network and throttling errors); a missing binary or a refusal is not. */
function isRetryableRegisterFailure(error: unknown): boolean {
  return error instanceof RegisterFailed && !error.final && !error.exit?.error && error.exit !== undefined;
}

/** `bastionless-<env>-<source id>`, within the 256 characters and the alphabet AWS allows. */
export function defaultInstanceName(env: string, sourceId: string): string {
  return `bastionless-${env}-${sourceId}`.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, "-").slice(0, 256);
}

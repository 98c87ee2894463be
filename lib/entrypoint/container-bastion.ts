// The container as a bastion: registration started in the background, and one stop() that cleans
// up whatever exists when it is called — once, within a deadline, however far registration got.
import type { Logger } from "../log.ts";
import { cleanupRegistration, type CleanupDeps, type CleanupStep } from "./cleanup.ts";
import { register, RegistrationStopped, type Created, type RegistrationConfig, type RegistrationDeps } from "./registration.ts";

export interface Bastion {
  /**
   * The managed instance id once the agent runs. Rejects with a RegistrationFailed (after what was
   * created has been removed) or a RegistrationStopped (stop() came first).
   */
  registered: Promise<string>;
  /** What exists so far, for logs and tests. */
  created: Readonly<Created>;
  /** Stops registration and removes everything it created, before `deadline` (epoch ms). Once-only. */
  stop(deadline: number): Promise<CleanupStep[]>;
}

export interface BastionDeps extends Omit<RegistrationDeps, "ssm"> {
  ssm: RegistrationDeps["ssm"];
  cleanup: Omit<CleanupDeps, "log">;
  log: Logger;
  /** The time a failed registration gets to undo itself. */
  undoTimeoutMs: number;
}

export function startBastion(config: RegistrationConfig, deps: BastionDeps): Bastion {
  const created: Created = {};
  const stopRegistration = new AbortController();
  const abortRegistration = new AbortController();
  let stopping: Promise<CleanupStep[]> | undefined;
  const started = Date.now();

  const running = register(config, deps, created, { stop: stopRegistration.signal, abort: abortRegistration.signal });
  const settled = running.then(
    () => undefined,
    () => undefined,
  );

  const stop = (deadline: number): Promise<CleanupStep[]> => {
    stopping ??= (async () => {
      const began = Date.now();
      deps.log.event("cleanup_started", { deadlineInMs: deadline - began });
      // Let the request in flight finish (its resource is then known and removed), for at most
      // half the time left; after that it is cancelled and the cleanup goes on without it.
      stopRegistration.abort();
      const patience = Math.max(0, (deadline - Date.now()) / 2);
      if (!(await settledWithin(settled, patience))) {
        abortRegistration.abort();
        await settledWithin(settled, Math.max(0, deadline - Date.now() - 200));
      }
      const steps = await cleanupRegistration(created, { ...deps.cleanup, log: deps.log }, deadline, { sharedParameter: config.parameterName !== undefined });
      deps.log.event("cleanup_done", { level: steps.every((s) => s.ok) ? "info" : "error", ok: steps.every((s) => s.ok), durationMs: Date.now() - began });
      return steps;
    })();
    return stopping;
  };

  const registered = running.then(
    (instanceId) => {
      deps.log.event("registration_complete", { instanceId, parameter: created.parameterName, durationMs: Date.now() - started });
      return instanceId;
    },
    async (error: Error) => {
      if (error instanceof RegistrationStopped) throw error;
      deps.log.event("registration_failed", {
        level: "error",
        step: (error as { step?: string }).step,
        error: error.message,
        durationMs: Date.now() - started,
      });
      // Leave nothing half-made behind: what was created is removed now, the app goes on.
      await stop(Date.now() + deps.undoTimeoutMs);
      throw error;
    },
  );
  // The caller may never await `registered` (a stop came first); its rejection is not a crash.
  registered.catch(() => {});

  return { registered, created, stop };
}

async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = await Promise.race([promise.then(() => true as const), timeout]);
  clearTimeout(timer);
  return done;
}

export interface ContainerBastionOptions {
  log: Logger;
  /** The time a failed registration gets to undo itself (the shutdown timeout). */
  undoTimeoutMs: number;
}

/**
 * startBastion with real AWS clients: the SDK's retries off (the retry loops here know the
 * deadlines), patient requests at start, short ones for the cleanup.
 */
export async function startContainerBastion(config: RegistrationConfig, options: ContainerBastionOptions): Promise<Bastion & { destroy(): void }> {
  const { createClients } = await import("../aws/clients.ts");
  const { findSource } = await import("./source.ts");
  const { getCallerIdentity } = await import("../aws/sts.ts");
  const startup = createClients({ region: config.region, maxAttempts: 1, requestTimeoutMs: 10_000 });
  const shutdown = createClients({ region: config.region, maxAttempts: 1, requestTimeoutMs: 2_000 });
  const bastion = startBastion(config, {
    ssm: startup.ssm,
    log: options.log,
    findSource: () => findSource(),
    callerUserId: async () => (await getCallerIdentity(startup.sts)).userId,
    undoTimeoutMs: options.undoTimeoutMs,
    cleanup: { ssm: shutdown.ssm },
  });
  return {
    ...bastion,
    destroy() {
      startup.destroy();
      shutdown.destroy();
    },
  };
}

// The entrypoint's init half, dumb-init's contract: the app (CMD) starts at once, as the image's
// own user when we are root; every stop signal goes to it each time it arrives; at the deadline it
// is SIGKILLed; the container exits with the app's code. And what ends a container: a signal, the
// app's exit, a registration that had to succeed and failed, or a crash of the entrypoint itself.
import { EXIT_FAILURE } from "../cli.ts";
import type { Logger } from "../log.ts";
import { SHUTDOWN_SIGNALS, exitStatus, onSignals, signalNumber, startChild, type Child, type ChildExit, type Signal } from "../process.ts";
import { DEFAULTS, type EntrypointConfig } from "./config.ts";
import { appEnv, findAppUserSpec, planAppUserHere } from "./app-user.ts";

export type StopReason =
  | { kind: "signal"; signal: Signal }
  | { kind: "app-exited"; exit: ChildExit }
  | { kind: "registration-failed"; error: Error }
  | { kind: "crash"; error: unknown };

const never = () => new Promise<never>(() => {});

export class App {
  private child: Child | undefined;

  constructor(private readonly log: Logger) {}

  /** Every stop signal goes to the app at once (each time it arrives); the first one starts the shutdown. */
  forwardStopSignals(): Promise<StopReason> {
    return new Promise((resolve) => {
      onSignals(SHUTDOWN_SIGNALS, (signal) => {
        const forwarded = this.child?.signal(signal) ?? false;
        this.log.event("signal_received", { signal, ...(forwarded ? { forwardedTo: this.child?.pid } : {}) });
        resolve({ kind: "signal", signal });
      });
    });
  }

  /** The CMD, as the app image's own user when the entrypoint is root: only the agent keeps root. */
  start(config: EntrypointConfig): void {
    if (!config.command.length) return;
    const plan = planAppUserHere(findAppUserSpec(config.appUser, DEFAULTS.appUserFile));
    const as = "switch" in plan ? { uid: plan.switch.uid, gid: plan.switch.gid, env: appEnv(process.env, plan.switch) } : {};
    this.child = startChild(config.command, { stdio: "inherit", ...as });
    const user =
      "switch" in plan
        ? { uid: plan.switch.uid, gid: plan.switch.gid, ...(plan.switch.name ? { user: plan.switch.name } : {}) }
        : { uid: process.getuid?.(), userKept: plan.keep };
    this.log.event("app_started", {
      pid: this.child.pid,
      command: config.command[0],
      args: config.command.length - 1,
      ...user,
      ...(config.disabled ? { bastion: "disabled" } : {}),
    });
  }

  /** Resolves when the app exits; never, without a CMD. */
  async exited(): Promise<StopReason> {
    if (!this.child) return never();
    const exit = await this.child.exited;
    this.log.event("app_exited", { code: exit.code, signal: exit.signal, ...(exit.error ? { level: "error", error: exit.error.message } : {}) });
    return { kind: "app-exited", exit };
  }

  /** The app is told to stop (a signal was already forwarded), then SIGKILLed at the deadline. */
  async stop(reason: StopReason, deadline: number): Promise<(ChildExit & { killed: boolean }) | undefined> {
    const app = this.child;
    if (!app) return undefined;
    if (reason.kind === "registration-failed" || reason.kind === "crash") app.signal("SIGTERM");
    const exit = await app.waitUntil(deadline);
    if (exit.killed) this.log.event("app_killed", { level: "warn", pid: app.pid, signal: "SIGKILL", reason: "still running at the shutdown deadline" });
    return exit;
  }
}

/** A bug in the entrypoint must not leave the instance behind: it becomes one more way to stop. */
export function watchForCrashes(log: Logger): Promise<StopReason> {
  return new Promise((resolve) => {
    const onCrash = (error: unknown) => {
      log.event("crash", { level: "error", error: (error as Error)?.message ?? String(error) });
      resolve({ kind: "crash", error });
    };
    process.on("uncaughtException", onCrash);
    process.on("unhandledRejection", onCrash);
  });
}

/** Registration failing ends the container only with BASTION_REQUIRED=true or without a CMD. */
export async function registrationFatal(bastion: { registered: Promise<string> } | undefined, config: EntrypointConfig): Promise<StopReason> {
  if (!bastion) return never();
  const error = await bastion.registered.then(
    () => undefined,
    (e: Error) => (e.name === "RegistrationFailed" ? e : undefined),
  );
  if (!error || !config.required) return never();
  return { kind: "registration-failed", error };
}

/** The app's code; 128+n for a signal that stopped us without an app; 1 for a fatal registration or a crash. */
export function exitCode(reason: StopReason, appExit: ChildExit | undefined): number {
  if (reason.kind === "registration-failed" || reason.kind === "crash") return EXIT_FAILURE;
  if (appExit) return exitStatus(appExit);
  return reason.kind === "signal" ? 128 + signalNumber(reason.signal) : EXIT_FAILURE;
}

export function describeStop(reason: StopReason): string {
  switch (reason.kind) {
    case "signal":
      return reason.signal;
    case "app-exited":
      return `app exited ${reason.exit.code ?? reason.exit.signal}`;
    case "registration-failed":
      return "registration failed and BASTION_REQUIRED is set (or there is no CMD)";
    case "crash":
      return "entrypoint crashed";
  }
}

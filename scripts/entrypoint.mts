// A container's ENTRYPOINT: the app (CMD) starts at once; beside it the container becomes an SSM
// managed instance; on a stop signal the app gets the signal at once while the instance, its
// parameter and activation are removed within BASTION_SHUTDOWN_TIMEOUT. The init contract of
// Yelp/dumb-init: forward signals, wait to a deadline, then SIGKILL; exit with the app's code.
//
//   ENTRYPOINT ["tini", "--", "bastionless-entrypoint"]     CMD ["node", "server.js"]
//
// Configuration is env only (lib/entrypoint/config.ts USAGE). Logs: one JSON object per event, on stderr.
// No zx here: every child is supervised (spawn, no shell) and the register argv carries a secret.
import { EXIT_FAILURE, EXIT_OK, runMain } from "../lib/cli.ts";
import { createLogger } from "../lib/log.ts";
import { DEFAULTS, parseEntrypointConfig, USAGE, type EntrypointConfig } from "../lib/entrypoint/config.ts";
import { appEnv, findAppUserSpec, planAppUserHere } from "../lib/entrypoint/app-user.ts";
import { loadConfig } from "../lib/config.ts";
import { SHUTDOWN_SIGNALS, exitStatus, onSignals, signalNumber, startChild, type Child, type ChildExit, type Signal } from "../lib/process.ts";

type StopReason =
  | { kind: "signal"; signal: Signal }
  | { kind: "app-exited"; exit: ChildExit }
  | { kind: "registration-failed"; error: Error }
  | { kind: "crash"; error: unknown };

const log = createLogger({ format: "json", base: { component: "entrypoint" } });

async function main(): Promise<number> {
  if (process.argv.slice(2).join(" ") === "--help") return printUsage();
  const config = parseEntrypointConfig(process.env, process.argv.slice(2), loadConfig({ search: false }));
  const stopSignal = forwardStopSignals();
  const crash = watchForCrashes();
  const app = startApp(config);
  const bastion = config.disabled ? undefined : await startBastionBeside(config);
  const reason = await Promise.race([stopSignal, crash, appExited(app), registrationFatal(bastion, config)]);
  const deadline = Date.now() + config.shutdownTimeoutMs;
  log.event("shutdown_started", { reason: describe(reason), timeoutMs: config.shutdownTimeoutMs });
  const [appExit] = await Promise.all([stopApp(app, reason, deadline), bastion?.stop(deadline)]);
  bastion?.destroy();
  return exitCode(reason, appExit);
}

function printUsage(): number {
  process.stdout.write(USAGE + "\n");
  return EXIT_OK;
}

/** Every stop signal goes to the app at once (each time it arrives); the first one starts the shutdown. */
function forwardStopSignals(): Promise<StopReason> {
  return new Promise((resolve) => {
    onSignals(SHUTDOWN_SIGNALS, (signal) => {
      const forwarded = appRef.current?.signal(signal) ?? false;
      log.event("signal_received", { signal, ...(forwarded ? { forwardedTo: appRef.current?.pid } : {}) });
      resolve({ kind: "signal", signal });
    });
  });
}

/** A bug in the entrypoint must not leave the instance behind: it becomes one more way to stop. */
function watchForCrashes(): Promise<StopReason> {
  return new Promise((resolve) => {
    const onCrash = (error: unknown) => {
      log.event("crash", { level: "error", error: (error as Error)?.message ?? String(error) });
      resolve({ kind: "crash", error });
    };
    process.on("uncaughtException", onCrash);
    process.on("unhandledRejection", onCrash);
  });
}

/** The CMD, as the app image's own user when the entrypoint is root: only the agent keeps root. */
function startApp(config: EntrypointConfig): Child | undefined {
  if (!config.command.length) return undefined;
  const plan = planAppUserHere(findAppUserSpec(config.appUser, DEFAULTS.appUserFile));
  const as = "switch" in plan ? { uid: plan.switch.uid, gid: plan.switch.gid, env: appEnv(process.env, plan.switch) } : {};
  appRef.current = startChild(config.command, { stdio: "inherit", ...as });
  const user = "switch" in plan ? { uid: plan.switch.uid, gid: plan.switch.gid, ...(plan.switch.name ? { user: plan.switch.name } : {}) } : { uid: process.getuid?.(), userKept: plan.keep };
  log.event("app_started", { pid: appRef.current.pid, command: config.command[0], args: config.command.length - 1, ...user, ...(config.disabled ? { bastion: "disabled" } : {}) });
  return appRef.current;
}

async function startBastionBeside(config: EntrypointConfig) {
  // The AWS SDK loads only now, after the app has started; its Node 20 notice would be a non-JSON log line.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const { startContainerBastion } = await import("../lib/entrypoint/bastion.ts");
  return startContainerBastion(config, { log, undoTimeoutMs: config.shutdownTimeoutMs });
}

const appRef: { current?: Child } = {};

async function appExited(app: Child | undefined): Promise<StopReason> {
  if (!app) return new Promise<never>(() => {});
  const exit = await app.exited;
  log.event("app_exited", { code: exit.code, signal: exit.signal, ...(exit.error ? { level: "error", error: exit.error.message } : {}) });
  return { kind: "app-exited", exit };
}

/** Registration failing ends the container only with BASTION_REQUIRED=true or without a CMD. */
async function registrationFatal(bastion: { registered: Promise<string> } | undefined, config: EntrypointConfig): Promise<StopReason> {
  if (!bastion) return new Promise<never>(() => {});
  const error = await bastion.registered.then(
    () => undefined,
    (e: Error) => (e.name === "RegistrationFailed" ? e : undefined),
  );
  if (!error || !config.required) return new Promise<never>(() => {});
  return { kind: "registration-failed", error };
}

/** The app is told to stop (a signal was already forwarded), then SIGKILLed at the deadline. */
async function stopApp(app: Child | undefined, reason: StopReason, deadline: number): Promise<ChildExit & { killed: boolean } | undefined> {
  if (!app) return undefined;
  if (reason.kind === "registration-failed" || reason.kind === "crash") app.signal("SIGTERM");
  const exit = await app.waitUntil(deadline);
  if (exit.killed) log.event("app_killed", { level: "warn", pid: app.pid, signal: "SIGKILL", reason: "still running at the shutdown deadline" });
  return exit;
}

function exitCode(reason: StopReason, appExit: ChildExit | undefined): number {
  if (reason.kind === "registration-failed" || reason.kind === "crash") return EXIT_FAILURE;
  if (appExit) return exitStatus(appExit);
  return reason.kind === "signal" ? 128 + signalNumber(reason.signal) : EXIT_FAILURE;
}

function describe(reason: StopReason): string {
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

await runMain(main, {
  name: "entrypoint",
  write: (line) => log.event("fatal", { level: "error", message: line.replace(/^entrypoint: /, "").trim() }),
  exit: (code) => {
    log.event("exit", { code });
    process.exit(code);
  },
});

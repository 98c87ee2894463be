// A container's ENTRYPOINT: the app (CMD) starts at once; beside it the container becomes an SSM
// managed instance; on a stop signal the app gets the signal at once while the instance, its
// parameter and activation are removed within BASTION_SHUTDOWN_TIMEOUT. The init contract of
// Yelp/dumb-init: forward signals, wait to a deadline, then SIGKILL; exit with the app's code.
//
//   ENTRYPOINT ["tini", "--", "bastionless-entrypoint"]     CMD ["node", "server.js"]
//
// Configuration is env only (lib/entrypoint/config.ts USAGE). Logs: one JSON object per event, on stderr.
// Every child is supervised (spawn, no shell): the register argv carries a secret, so no shell ever sees it.
import { EXIT_OK, runMain } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";
import { App, describeStop, exitCode, registrationFatal, watchForCrashes } from "../lib/entrypoint/app.ts";
import { parseEntrypointConfig, USAGE, type EntrypointConfig } from "../lib/entrypoint/config.ts";
import { createLogger } from "../lib/log.ts";

const log = createLogger({ format: "json", base: { component: "entrypoint" } });

async function main(): Promise<number> {
  if (process.argv.slice(2).join(" ") === "--help") {
    process.stdout.write(USAGE + "\n");
    return EXIT_OK;
  }
  const config = parseEntrypointConfig(process.env, process.argv.slice(2), loadConfig({ search: false }));
  const app = new App(log);
  const stopSignal = app.forwardStopSignals();
  const crash = watchForCrashes(log);
  app.start(config);
  const bastion = config.disabled ? undefined : await startBastionBeside(config);
  const reason = await Promise.race([stopSignal, crash, app.exited(), registrationFatal(bastion, config)]);
  const deadline = Date.now() + config.shutdownTimeoutMs;
  log.event("shutdown_started", { reason: describeStop(reason), timeoutMs: config.shutdownTimeoutMs });
  const [appExit] = await Promise.all([app.stop(reason, deadline), bastion?.stop(deadline)]);
  bastion?.destroy();
  return exitCode(reason, appExit);
}

async function startBastionBeside(config: EntrypointConfig) {
  // The AWS SDK loads only now, after the app has started; its Node 20 notice would be a non-JSON log line.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const { startContainerBastion } = await import("../lib/entrypoint/container-bastion.ts");
  return startContainerBastion(config, { log, undoTimeoutMs: config.shutdownTimeoutMs });
}

await runMain(main, {
  name: "entrypoint",
  write: (line) => log.event("fatal", { level: "error", message: line.replace(/^entrypoint: /, "").trim() }),
  exit: (code) => {
    log.event("exit", { code });
    process.exit(code);
  },
});

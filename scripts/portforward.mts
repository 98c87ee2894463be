// portforward (`make tunnel ENV=stg`): a throw-away bastion task with a service's network settings,
// local ports to a database (or any host:port) through Session Manager once the task is really
// ready — no fixed sleep —, and at the end the task stopped and proof that nothing was left.
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError, parseFlags, runMain, usage } from "../lib/cli.ts";
import { createClients, requireRegion, type AwsClients } from "../lib/aws/clients.ts";
import { lastSegment, listClusterNames, listServiceNames, type TaskInfo } from "../lib/aws/ecs.ts";
import { listDatabaseTargets } from "../lib/aws/rds.ts";
import { configuredEnvs, describeScope, envConfig, loadConfig } from "../lib/config.ts";
import { formatDuration } from "../lib/duration.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { canPrompt, confirm, selectOne, type PromptContext } from "../lib/prompts.ts";
import { startPortForward, type ClientChoice, type PortForward } from "../lib/session/index.ts";
import { describeBastion, launchBastion, listOwnBastions, otherBastionsLine, observeBastion, resolvePlacement, stopBastion, StopNotConfirmed, unknownClusterIsUsage, type Placement } from "../lib/portforward/bastion.ts";
import { databaseChoice, databasesOfEnv, envChoices, nameChoices } from "../lib/portforward/choices.ts";
import { belongsToEnv, namesOfEnv } from "../lib/envs.ts";
import { localUser } from "../lib/local.ts";
import { getCallerIdentity } from "../lib/aws/sts.ts";
import { applySocket, assertDistinctPorts, findDatabase, formatForwardLine, formatLocalEnd, networkWarning, parseBindAddress, parseHostPort, targetForward, type PlannedForward } from "../lib/portforward/forwards.ts";
import { watchInterrupts, type Interrupts } from "../lib/portforward/interrupts.ts";
import { keptLines, reportLeftovers } from "../lib/portforward/leftovers.ts";
import { resolveSettings, type Settings } from "../lib/portforward/options.ts";
import { assertAddressUsable, assertClientAvailable, assertPortsFree, assertSocketsUsable, clientForAddress, clientForSocket } from "../lib/portforward/preflight.ts";
import { createProgress } from "../lib/portforward/progress.ts";
import { WaitAborted, waitUntilReady } from "../lib/portforward/readiness.ts";
import { openRunLog, teeLogger, type RunLog } from "../lib/portforward/state-log.ts";
import { holdTunnel, type HoldResult } from "../lib/portforward/tunnel.ts";
import { openTunnel, type OpenedTunnel, type Ready } from "../lib/portforward/open.ts";
import { cli } from "../lib/portforward/cli.ts";

type Flags = ReturnType<typeof parseFlags<typeof cli.flags>>;

interface Run {
  settings: Settings;
  /** --address, parsed; where every local port listens. */
  address: string;
  /** settings.client, narrowed to one that can listen on `address`. */
  client: ClientChoice;
  clients: AwsClients;
  region: string;
  prompt: PromptContext;
  log: Logger;
  file: RunLog;
  interrupts: Interrupts;
  user: string;
  /** The bastionless.config.json this run read, if any. */
  configPath?: string;
  /** --socket, and --local-port as typed (the two exclude each other). */
  socket?: string;
  localPortFlag?: string;
}

await runMain(async () => {
  const flags = parseFlags(cli, process.argv.slice(2));
  if (flags.help) return void process.stdout.write(usage(cli));
  const run = await startRun(flags);
  try {
    const placement = await selectPlacement(run);
    const forwards = await selectForwards(run);
    await checkThisMachine(run, forwards);
    const task = await launchOrReuseBastion(run, placement);
    const outcome = await tunnelThrough(run, task, forwards).catch((error: unknown) => ({ kind: "error" as const, error }));
    const code = await stopOrKeepBastion(run, task, outcome);
    if (outcome.kind === "error") throw outcome.error;
    if (outcome.kind !== "closed") throw new Error(`The tunnel ended: ${outcome.message}.`);
    return code;
  } finally {
    run.interrupts.dispose();
    run.clients.destroy();
    run.file.close();
  }
}, { name: "portforward" });

/** Settings (flags > env vars > config > prompts), clients, the session log and Ctrl-C handling. */
async function startRun(flags: Flags): Promise<Run> {
  const address = parseBindAddress(flags.address);
  await assertAddressUsable(address);
  const config = loadConfig();
  const prompt: PromptContext = { interactive: canPrompt(flags.yes) && !flags.json, note: (line) => process.stderr.write(line + "\n") };
  const defaults = envConfig(config, undefined);
  let clients = createClients({ profile: flags.profile ?? defaults.profile, region: flags.region ?? defaults.region });
  let env = flags.env;
  if (!env) {
    if (!prompt.interactive) throw new UsageError("Missing --env: pass --env <name> (or set BASTION_ENV).");
    env = await selectOne(prompt, "env", "--env", nameChoices(envChoices(configuredEnvs(config), await listClusterNames(clients.ecs))));
  }
  const settings = resolveSettings(env, flags, envConfig(config, env));
  const client = clientForSocket(clientForAddress(settings.client, address), flags.socket);
  clients.destroy();
  clients = createClients({ profile: settings.profile, region: settings.region });
  const region = await requireRegion(clients, settings.region);
  const file = openRunLog({ base: { program: "portforward", env } });
  const log = teeLogger(createLogger({ format: "human", debug: flags.debug }), file.log);
  const interrupts = watchInterrupts((line) => process.stderr.write(`\n${line}\n`));
  return { settings, address, client, clients, region, prompt, log, file, interrupts, user: localUser(), configPath: config?.path, socket: flags.socket, localPortFlag: flags["local-port"] };
}

/** Cluster (the env's), service, and from it the bastion's network, launch type and task definition. */
async function selectPlacement(run: Run): Promise<Placement> {
  const { settings, clients, prompt } = run;
  let cluster = settings.cluster;
  if (!cluster) {
    const all = await listClusterNames(clients.ecs);
    const mine = namesOfEnv(all, settings.env);
    if (!mine.length) throw new UsageError(`No ECS cluster matches env ${settings.env} in ${run.region} (clusters: ${all.join(", ") || "none"}): pass --cluster, or check --env, --profile and --region.`);
    cluster = await selectOne(prompt, "cluster", "--cluster", nameChoices(mine));
  }
  let service = settings.service;
  if (!service) {
    const all = await listServiceNames(clients.ecs, cluster).catch(unknownClusterIsUsage(cluster));
    const mine = belongsToEnv(cluster, settings.env) ? all : namesOfEnv(all, settings.env);
    if (!mine.length) throw new UsageError(`Cluster ${cluster} has no service for env ${settings.env} to take the network settings from: pass --service.`);
    service = await selectOne(prompt, "service", "--service", nameChoices(mine));
  }
  return resolvePlacement(clients.ecs, { cluster, service, taskDefinition: settings.taskDefinition });
}

/** --target (RDS id, endpoint, host:port; prompt: the env's databases) and every --forward. */
async function selectForwards(run: Run): Promise<PlannedForward[]> {
  const { settings, clients, prompt } = run;
  const forwards = [...settings.forwards];
  if (settings.target || !forwards.length) {
    let target = settings.target ? parseHostPort(settings.target) : undefined;
    let label = settings.target ?? "";
    if (!target) {
      const databases = await listDatabaseTargets(clients.rds);
      if (settings.target) {
        const found = findDatabase(databases, settings.target);
        if (!found) throw new UsageError(`--target ${settings.target}: no RDS cluster or instance has that id or endpoint in ${run.region}; pass a database id, an endpoint with its port (host:port), or --forward L:HOST:R.`);
        target = { host: found.host, port: found.port };
      } else {
        const mine = databasesOfEnv(databases, settings.env);
        if (!mine.length) throw new UsageError(`No RDS database of env ${settings.env} in ${run.region}: pass --target (an id or host:port) or --forward L:HOST:R.`);
        const picked = await selectOne(prompt, "target", "--target", mine.map(databaseChoice));
        target = { host: picked.host, port: picked.port };
        label = picked.id;
      }
    }
    forwards.unshift(targetForward({ ...target, label }, settings.localPort));
  }
  assertDistinctPorts(forwards);
  return applySocket(forwards, run.socket, run.localPortFlag);
}

/** Before anything costs money: the local ports are free (on --address) and the chosen client exists. */
async function checkThisMachine(run: Run, forwards: PlannedForward[]): Promise<void> {
  await assertPortsFree(forwards.map((f) => ({ port: f.localPort, flag: f.flag })), run.address);
  assertSocketsUsable(forwards.map((f) => f.socketPath));
  await assertClientAvailable(run.client);
  const warning = networkWarning(run.address);
  if (warning) run.log.warn(warning);
}

/** --reuse: this user's running bastion in the cluster; otherwise (or when there is none) RunTask. */
async function launchOrReuseBastion(run: Run, placement: Placement): Promise<TaskInfo> {
  const who = { env: run.settings.env, localUser: run.user, owner: (await getCallerIdentity(run.clients.sts)).arn, defaulted: run.settings.taskDefinitionDefaulted };
  // Bastions cost money while they run: a second one is never launched, or reused, without saying so.
  const mine = await listOwnBastions(run.clients.ecs, placement.cluster, who).catch(() => []);
  if (run.settings.reuse) {
    const [task, ...others] = mine;
    if (task) {
      run.log.info(`Reusing bastion task ${task.taskId} (${task.lastStatus}) in ${placement.cluster}.`);
      const also = otherBastionsLine(others, placement.cluster, true);
      if (also) run.log.info(also);
      return task;
    }
    run.log.info(`No running bastion task of ${run.user} in ${placement.cluster}: launching one.`);
  } else {
    const already = otherBastionsLine(mine, placement.cluster, false);
    if (already) run.log.info(already);
  }
  run.log.info(describeScope({ configPath: run.configPath, env: run.settings.env, profile: run.settings.profile ?? process.env.AWS_PROFILE, region: run.region, cluster: placement.cluster }));
  const task = await launchBastion(run.clients.ecs, placement, who);
  run.file.log.event("task_launched", { taskArn: task.taskArn, cluster: placement.cluster, service: placement.service, taskDefinition: placement.taskDefinition });
  run.log.info(`Launched bastion task ${task.taskId} (${lastSegment(placement.taskDefinition)}) in ${placement.cluster} with the network of service ${placement.service}.`);
  return task;
}

/** Polls (200 ms → 500 ms) until the task is reachable the chosen way; a spinner on a terminal. */
async function waitForBastion(run: Run, task: TaskInfo): Promise<Ready> {
  const { settings, clients, interrupts } = run;
  const progress = createProgress(`Bastion task ${task.taskId}`, process.stderr);
  const result = await waitUntilReady({
    observe: () => observeBastion(clients, task, { env: settings.env, via: settings.via }),
    via: settings.via,
    timeoutMs: settings.timeoutMs,
    signal: interrupts.startAborted,
    onProgress: (status, elapsedMs) => progress.update(status, elapsedMs),
  }).finally(() => progress.clear());
  run.file.log.event("readiness", { ...result });
  if (result.kind === "stopped") throw new Error(`Bastion task ${task.taskId} stopped while starting: ${result.message}.`);
  if (result.kind === "timeout") {
    throw new Error(`Bastion task ${task.taskId} was not ready within ${formatDuration(settings.timeoutMs)} (last seen: ${result.lastStatus}): raise --timeout, or see why it starts slowly with aws ecs describe-tasks --cluster ${task.cluster} --tasks ${task.taskId}.`);
  }
  progress.done(`Bastion task ${task.taskId} is ready after ${formatDuration(result.elapsedMs)} (${result.via}: ${result.target}).`);
  return { via: result.via, target: result.target, deadline: Date.now() + Math.max(30_000, settings.timeoutMs - result.elapsedMs) };
}

/** Ready → forwards open → announced → held until closed. */
async function tunnelThrough(run: Run, task: TaskInfo, forwards: PlannedForward[]): Promise<HoldResult> {
  const ready = await waitForBastion(run, task);
  const tunnel = await openTunnel({ clients: run.clients, region: run.region, profile: run.settings.profile, client: run.client, ready, forwards, address: run.address, log: run.log, signal: run.interrupts.startAborted });
  // A Ctrl-C while the session was opening abandons the start all the same: never a tunnel nobody wants.
  if (run.interrupts.startAborted.aborted) {
    await tunnel.forward.stop();
    tunnel.listeners.forEach((l) => l.close());
    throw new WaitAborted("interrupted while the tunnel opened");
  }
  announce(run, task, ready, tunnel);
  return holdUntilClosed(run, task, ready, tunnel);
}

/** One line per forward (stdout), or the one JSON line with --json. */
function announce(run: Run, task: TaskInfo, ready: Ready, tunnel: { forward: PortForward; forwards: PlannedForward[] }): void {
  const { forward, forwards } = tunnel;
  run.file.log.event("tunnel_open", { target: ready.target, client: forward.client, ports: forward.ports });
  if (run.settings.json) {
    const list = forwards.map((f, i) => ({ ...(f.socketPath ? { localSocket: f.socketPath } : { localAddress: run.address, localPort: forward.ports[i] }), host: f.host, remotePort: f.remotePort, label: f.label }));
    process.stdout.write(JSON.stringify({ event: "ready", env: run.settings.env, cluster: task.cluster, task: task.taskId, taskArn: task.taskArn, via: ready.via, target: ready.target, client: forward.client, forwards: list, log: run.file.path }) + "\n");
    return;
  }
  for (const [i, f] of forwards.entries()) process.stdout.write(formatForwardLine(forward.ports[i], f, ready.target, run.address) + "\n");
  process.stdout.write(`Press Ctrl-C to close the tunnel${run.settings.stopAnswer === false ? "" : " and stop the bastion"}. Session log: ${run.file.path}\n`);
}

/** Until Ctrl-C, the task stopping, or sessions that cannot be reopened. */
async function holdUntilClosed(run: Run, task: TaskInfo, ready: Ready, tunnel: OpenedTunnel): Promise<HoldResult> {
  run.interrupts.phase = "open";
  const result = await holdTunnel({
    first: tunnel.forward,
    reopen: (ports) => startPortForward({ clients: run.clients, region: run.region, profile: run.settings.profile, client: run.client, target: ready.target, bindAddress: run.address, listeners: tunnel.listeners, log: run.log, forwards: tunnel.forwards.map((f, i) => ({ localPort: ports[i], host: f.host, remotePort: f.remotePort })) }),
    closeRequested: run.interrupts.closeRequested,
    describeTask: () => describeBastion(run.clients.ecs, task),
    address: run.address,
    local: tunnel.forwards.map((f, i) => formatLocalEnd(f, tunnel.forward.ports[i], run.address)),
    log: run.log,
  }).finally(() => tunnel.listeners.forEach((l) => l.close()));
  run.file.log.event("tunnel_closed", { ...result });
  return result;
}

/** Ask (default yes; --keep/--stop/--yes answer), StopTask, wait for STOPPED, report anything left. */
async function stopOrKeepBastion(run: Run, task: TaskInfo, outcome: HoldResult | { kind: "error"; error: unknown }): Promise<number> {
  const { settings, interrupts } = run;
  interrupts.phase = "stopping";
  const scope = { profile: settings.profile, region: run.region, env: settings.env };
  // Only a tunnel the user closed may keep its task; a failed start or a dead tunnel always stops it.
  const askable = outcome.kind === "closed";
  const stop = !askable || (settings.stopAnswer ?? (await confirm(run.prompt, `Stop bastion task ${task.taskId}?`, true).catch(() => true)));
  if (!stop) {
    for (const line of keptLines(task, scope)) process.stderr.write(line + "\n");
    run.file.log.event("task_kept", { taskArn: task.taskArn });
    return EXIT_OK;
  }
  const progress = createProgress(`Stopping bastion task ${task.taskId}`, process.stderr);
  progress.update("waiting for STOPPED", 0);
  try {
    const after = await stopBastion(run.clients, task, { env: settings.env, reason: `bastionless portforward: closed by ${run.user}`, signal: interrupts.stopAbandoned });
    const report = reportLeftovers(after, scope);
    run.file.log.event("task_stopped", { ...after, clean: report.clean });
    if (report.clean) {
      progress.done(`Stopped bastion task ${task.taskId}; nothing is left running.`);
      return EXIT_OK;
    }
    progress.done(`Stopped bastion task ${task.taskId}, but something is left:`);
    for (const line of report.lines) process.stderr.write(`  ${line}\n`);
    return EXIT_FAILURE;
  } catch (error) {
    progress.clear();
    if (error instanceof StopNotConfirmed) {
      // After a failed start the error line comes last; this line only says what became of the task.
      const failed = outcome.kind === "error" ? (outcome.error as Error) : undefined;
      const why = failed?.message === error.reason.message ? "for the same reason" : error.reason.message.replace(/\.$/, "");
      const line = `Bastion task ${task.taskId} was asked to stop, but the stop could not be confirmed: ${why}. See what is left with: make cleanup ENV=${settings.env}`;
      process.stderr.write(failed ? `${line}\n` : `portforward: ${line}\n`);
      return EXIT_FAILURE;
    }
    if ((error as Error).name !== "AbortError") throw error;
    process.stderr.write(`Not waiting: bastion task ${task.taskId} was asked to stop. See what is left with: make cleanup ENV=${settings.env}\n`);
    return EXIT_INTERRUPTED;
  }
}

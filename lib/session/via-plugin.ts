// Port forwards and shells through AWS's session-manager-plugin (plugin.ts), one plugin per session.
// Given the caller's listeners, each plugin listens on a free port of 127.0.0.1 and the listener relays
// to it, so the user's port stays held while a plugin is replaced (lib/session/listeners.ts).
import { connect, type Socket } from "node:net";
import { executeCommand, getEndpointUrl, startSession, terminateSession, type SessionGrant } from "../aws/sessions.ts";
import {
  assertPluginVersion,
  buildPluginArgs,
  getPluginVersion,
  ignoreUserSignals,
  isFailedSessionEnd,
  spawnPlugin,
  waitForPluginPort,
  type PluginProcess,
} from "./plugin.ts";
import { portForwardRequest } from "./documents.ts";
import type { PortForward, PortForwardOptions, Shell, ShellOptions } from "./types.ts";

async function checkedVersion(path: string | undefined): Promise<string> {
  const version = await getPluginVersion(path);
  assertPluginVersion(version, path);
  return version;
}

/** Spawns the plugin for a session already started; TerminateSession if it cannot be spawned. */
async function launch(
  options: PortForwardOptions | ShellOptions,
  form: "ssm" | "ecs",
  grant: SessionGrant,
  request: { Target: string },
  version: string,
  stdio: "pipe" | "inherit" | "tee",
): Promise<PluginProcess> {
  const client = form === "ecs" ? options.clients.ecs : options.clients.ssm;
  const endpointUrl = await getEndpointUrl(client, form === "ecs" ? "ECS" : "SSM", options.region);
  const { args, env } = buildPluginArgs({ form, grant, region: options.region, profile: options.profile, request, endpointUrl, pluginVersion: version });
  const plugin = spawnPlugin({ path: options.pluginPath, args, env, stdio, onOutput: (text) => options.log?.debug(`plugin: ${text.trimEnd()}`) });
  // The binary vanished between --version and now: end the session so it does not linger (awscli does the same).
  plugin.exited.catch(() => terminateSession(options.clients.ssm, grant.sessionId).catch(() => {}));
  return plugin;
}

export async function startPluginPortForward(options: PortForwardOptions): Promise<PortForward> {
  const version = await checkedVersion(options.pluginPath);
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const plugins: PluginProcess[] = [];
  const sessionIds: string[] = [];
  const ports: number[] = [];
  try {
    for (const [i, forward] of options.forwards.entries()) {
      const fronted = options.listeners?.[i] !== undefined;
      const request = portForwardRequest(options.target, forward, fronted ? 0 : forward.localPort);
      const grant = await startSession(options.clients.ssm, { target: request.Target, documentName: request.DocumentName, parameters: request.Parameters });
      const plugin = await launch(options, "ssm", grant, request, version, "pipe");
      plugins.push(plugin);
      sessionIds.push(grant.sessionId);
      try {
        ports.push(await waitForPluginPort(plugin, timeoutMs));
      } catch (error) {
        await plugin.stop();
        await terminateSession(options.clients.ssm, grant.sessionId).catch(() => {});
        throw error;
      }
    }
  } catch (error) {
    await Promise.all(plugins.map((p) => p.stop()));
    throw error;
  }
  const listeners = options.listeners ?? [];
  for (const [i, listener] of listeners.entries()) {
    const pluginPort = ports[i];
    listener.attach((socket) => relay(socket, pluginPort));
    // Once its plugin is gone, nothing may be sent to its port (someone else could listen there now).
    void plugins[i].exited.finally(() => listener.detach()).catch(() => {});
    ports[i] = listener.port;
  }
  let stopped = false;
  const gone = new Set<number>();
  plugins.forEach((p, i) => void p.exited.finally(() => gone.add(i)).catch(() => {}));
  const ended = Promise.race(
    plugins.map((p, i) =>
      p.exited.then(
        (code) => `session-manager-plugin for port ${ports[i]} exited with code ${code}`,
        (e: Error) => e.message,
      ),
    ),
  ).then((reason) => (stopped ? new Promise<string>(() => {}) : reason));
  return {
    client: "plugin",
    ports,
    ready: Promise.resolve(),
    ended,
    sessions: () => plugins.map((_, i) => ({ open: gone.has(i) ? 0 : 1, max: 1 })),
    async stop() {
      stopped = true;
      for (const listener of listeners) listener.detach();
      // Each session is ended by TerminateSession too: a plugin SIGKILLed after its grace never says goodbye.
      const terminate = sessionIds.map((id) => terminateSession(options.clients.ssm, id).catch(() => {}));
      await Promise.all([...plugins.map((p) => p.stop()), ...terminate]);
    },
  };
}

/**
 * One local connection to the plugin's own port, both ways, half-closes included. The plugin listens
 * with net.Listen("tcp", "localhost:0"), and Go listens on the first IPv4 address of the name.
 */
function relay(socket: Socket, port: number): void {
  const upstream = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  socket.pipe(upstream);
  upstream.pipe(socket);
  socket.on("error", () => upstream.destroy());
  upstream.on("error", () => socket.destroy());
  socket.resume();
}

export async function startPluginShell(options: ShellOptions): Promise<Shell> {
  const version = await checkedVersion(options.pluginPath);
  const { via } = options;
  const grant =
    via.kind === "ecs"
      ? await executeCommand(options.clients.ecs, { cluster: via.cluster, task: via.task, container: via.container, command: via.command })
      : await startSession(options.clients.ssm, { target: via.target, documentName: via.documentName, parameters: via.parameters });
  const request =
    via.kind === "ecs"
      ? { Target: via.target }
      : { Target: via.target, ...(via.documentName ? { DocumentName: via.documentName } : {}), ...(via.parameters ? { Parameters: via.parameters } : {}) };
  const restoreSignals = ignoreUserSignals();
  let plugin: PluginProcess;
  try {
    // On a terminal the plugin must own stdout (it reads the size there); elsewhere we read what it prints.
    plugin = await launch(options, via.kind, grant, request, version, process.stdout.isTTY ? "inherit" : "tee");
  } catch (error) {
    restoreSignals();
    throw error;
  }
  // The plugin exits 0 on a failed session too (a failed KMS handshake): its last words say which it was.
  const exit = plugin.exited.then((code) => (code === 0 && isFailedSessionEnd(plugin.output(), grant.sessionId) ? 1 : code)).finally(restoreSignals);
  return {
    client: "plugin",
    sessionId: grant.sessionId,
    exit,
    // SIGINT alone ends nothing: the plugin passes it to the remote shell as Ctrl-C. TerminateSession
    // ends the session (and the remote command); the plugin is stopped beside it.
    async stop() {
      await Promise.all([terminateSession(options.clients.ssm, grant.sessionId).catch(() => {}), plugin.stop()]);
    },
  };
}

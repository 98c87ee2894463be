// One port forward by either client, the same way for every case. The native client is the product's
// own (lib/session); AWS's plugin is spawned straight from its path with the argv and environment the
// AWS CLI gives it (lib/session/plugin.ts buildPluginArgs), so the product's plugin floor is not in the way and
// the plugin is never told another version than the one it reports.
import type { ECSClient } from "@aws-sdk/client-ecs";
import type { KMSClient } from "@aws-sdk/client-kms";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { getEndpointUrl, startSession, terminateSession } from "../../lib/aws/sessions.ts";
import { createLogger } from "../../lib/log.ts";
import { buildPluginArgs, spawnPlugin, waitForPluginPort } from "../../lib/session/plugin.ts";
import { startNativePortForward } from "../../lib/session/port.ts";
import { portForwardRequest } from "../../lib/session/documents.ts";
import type { ClientKind } from "./report.ts";

export interface ClientContext {
  client: ClientKind;
  clients: { ssm: SSMClient; ecs: ECSClient; kms: KMSClient };
  region: string;
  pluginPath: string;
  pluginVersion: string;
  /** The local cloud's endpoint, region and credentials: the plugin calls ResumeSession itself. */
  cloudEnv: Record<string, string>;
  target: string;
}

export interface OpenForward {
  port: number;
  /** Resolves when the client process ends by itself (plugin: its exit code); never for the native client. */
  exited: Promise<number>;
  /** What the client printed (plugin) or logged (native). */
  output(): string;
  stop(): Promise<void>;
}

export async function openForward(ctx: ClientContext, forward: { host?: string; remotePort: number }): Promise<OpenForward> {
  return ctx.client === "native" ? openNative(ctx, forward) : openPlugin(ctx, forward);
}

async function openNative(ctx: ClientContext, forward: { host?: string; remotePort: number }): Promise<OpenForward> {
  let printed = "";
  const log = createLogger({ format: "human", debug: true, write: (line) => void (printed = (printed + line).slice(-8192)) });
  const fwd = await startNativePortForward({
    clients: ctx.clients,
    region: ctx.region,
    client: "native",
    target: ctx.target,
    log,
    forwards: [{ localPort: 0, host: forward.host, remotePort: forward.remotePort }],
  });
  await fwd.ready;
  return { port: fwd.ports[0], exited: new Promise<number>(() => {}), output: () => printed, stop: () => fwd.stop() };
}

async function openPlugin(ctx: ClientContext, forward: { host?: string; remotePort: number }): Promise<OpenForward> {
  const request = portForwardRequest(ctx.target, { localPort: 0, ...forward }, 0);
  const grant = await startSession(ctx.clients.ssm, { target: request.Target, documentName: request.DocumentName, parameters: request.Parameters });
  const endpointUrl = await getEndpointUrl(ctx.clients.ssm, "SSM", ctx.region);
  const { args, env } = buildPluginArgs({ form: "ssm", grant, region: ctx.region, request, endpointUrl, pluginVersion: ctx.pluginVersion });
  const plugin = spawnPlugin({ path: ctx.pluginPath, args, env: { ...ctx.cloudEnv, ...env }, stdio: "pipe" });
  try {
    const port = await waitForPluginPort(plugin, 30_000);
    return { port, exited: plugin.exited, output: plugin.output, stop: async () => void (await plugin.stop()) };
  } catch (error) {
    await plugin.stop();
    await terminateSession(ctx.clients.ssm, grant.sessionId).catch(() => {});
    throw error;
  }
}

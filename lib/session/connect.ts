// Opening the data channel of a session that was just granted: the WebSocket upgrade signed with
// the caller's credentials when there are any, ResumeSession wired in for reconnects.
import type { SSMClient } from "@aws-sdk/client-ssm";
import { resumeSession, terminateSession, type SessionGrant } from "../aws/sessions.ts";
import type { Logger } from "../log.ts";
import { DataChannel } from "./channel.ts";
import { signUpgradeHeaders } from "./sign.ts";

export interface ConnectOptions {
  ssm: SSMClient;
  region: string;
  log?: Logger;
  sendWindow?: number;
  messagesPerSecond?: number;
  clientVersion?: string;
}

export async function openDataChannel(grant: SessionGrant, opts: ConnectOptions): Promise<DataChannel> {
  const channel = new DataChannel({
    grant,
    resume: () => resumeSession(opts.ssm, grant.sessionId),
    upgradeHeaders: (url) => upgradeHeaders(url, opts),
    sendWindow: opts.sendWindow,
    messagesPerSecond: opts.messagesPerSecond,
    clientVersion: opts.clientVersion,
    log: opts.log,
  });
  await channel.open();
  return channel;
}

/** openDataChannel, and TerminateSession when it fails: a granted session is never left open. */
export async function openDataChannelOrTerminate(grant: SessionGrant, opts: ConnectOptions): Promise<DataChannel> {
  try {
    return await openDataChannel(grant, opts);
  } catch (error) {
    await terminateSession(opts.ssm, grant.sessionId).catch(() => {});
    throw new Error(`Could not open the data channel of session ${grant.sessionId}: ${(error as Error).message}`, { cause: error });
  }
}

/** Like the plugin: sign when credentials can be found, otherwise connect unsigned and say why. */
async function upgradeHeaders(url: string, opts: ConnectOptions): Promise<Record<string, string>> {
  let credentials;
  try {
    credentials = await opts.ssm.config.credentials();
  } catch (error) {
    opts.log?.debug(`no AWS credentials to sign the data channel with (${(error as Error).message}); connecting unsigned`);
    return {};
  }
  return signUpgradeHeaders(url, opts.region, credentials);
}

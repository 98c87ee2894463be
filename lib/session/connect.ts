// Opening the data channel of a session that was just granted: the WebSocket upgrade signed with
// the caller's credentials when there are any, ResumeSession wired in for reconnects.
import type { SSMClient } from "@aws-sdk/client-ssm";
import { resumeSession, type SessionGrant } from "../aws/sessions.ts";
import type { Logger } from "../log.ts";
import { DataChannel } from "./channel.ts";
import { signUpgradeHeaders } from "./sign.ts";

export interface ConnectOptions {
  ssm: SSMClient;
  region: string;
  log?: Logger;
  sendWindow?: number;
  clientVersion?: string;
}

export async function openDataChannel(grant: SessionGrant, opts: ConnectOptions): Promise<DataChannel> {
  const channel = new DataChannel({
    grant,
    resume: () => resumeSession(opts.ssm, grant.sessionId),
    upgradeHeaders: (url) => upgradeHeaders(url, opts),
    sendWindow: opts.sendWindow,
    clientVersion: opts.clientVersion,
    log: opts.log,
  });
  await channel.open();
  return channel;
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

// Session Manager's control-plane calls: SSM StartSession/ResumeSession/TerminateSession, ECS
// ExecuteCommand, and the KMS data key of encrypted sessions. Every token and key is registered
// as a secret the moment it arrives, so no log line can carry it afterwards.
import { ResumeSessionCommand, StartSessionCommand, TerminateSessionCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { ExecuteCommandCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { GenerateDataKeyCommand, type KMSClient } from "@aws-sdk/client-kms";
import { registerSecret } from "../log.ts";
import { call, isNotFound } from "./errors.ts";

/** What a data channel needs to open: the same three fields in SSM's and ECS's responses. */
export interface SessionGrant {
  sessionId: string;
  streamUrl: string;
  tokenValue: string;
}

export interface StartSessionInput {
  target: string;
  /** Omitted for a shell (the account's default Standard_Stream document). */
  documentName?: string;
  parameters?: Record<string, string[]>;
}

export async function startSession(ssm: SSMClient, input: StartSessionInput): Promise<SessionGrant> {
  const out = await call({ action: "ssm:StartSession", object: input.target }, () =>
    ssm.send(new StartSessionCommand({ Target: input.target, DocumentName: input.documentName, Parameters: input.parameters })),
  );
  return grantOf(out.SessionId, out.StreamUrl, out.TokenValue, `ssm:StartSession on ${input.target}`);
}

/** A fresh token for a live session, or undefined when the session is gone (timed out, terminated). */
export async function resumeSession(ssm: SSMClient, sessionId: string): Promise<SessionGrant | undefined> {
  try {
    const out = await call({ action: "ssm:ResumeSession", object: `session ${sessionId}` }, () => ssm.send(new ResumeSessionCommand({ SessionId: sessionId })));
    if (!out.TokenValue || !out.StreamUrl) return undefined;
    return grantOf(out.SessionId ?? sessionId, out.StreamUrl, out.TokenValue, `ssm:ResumeSession of ${sessionId}`);
  } catch (error) {
    if (isNotFound(error, "DoesNotExistException", "InvalidParameterValue")) return undefined;
    throw error;
  }
}

export async function terminateSession(ssm: SSMClient, sessionId: string): Promise<void> {
  await call({ action: "ssm:TerminateSession", object: `session ${sessionId}` }, () => ssm.send(new TerminateSessionCommand({ SessionId: sessionId })));
}

export interface ExecuteCommandInput {
  cluster: string;
  task: string;
  container?: string;
  command: string;
}

export async function executeCommand(ecs: ECSClient, input: ExecuteCommandInput): Promise<SessionGrant> {
  const out = await call({ action: "ecs:ExecuteCommand", object: `task ${input.task} in cluster ${input.cluster}` }, () =>
    ecs.send(new ExecuteCommandCommand({ cluster: input.cluster, task: input.task, container: input.container, command: input.command, interactive: true })),
  );
  const s = out.session;
  return grantOf(s?.sessionId, s?.streamUrl, s?.tokenValue, `ecs:ExecuteCommand on task ${input.task}`);
}

export interface DataKey {
  plaintext: Buffer;
  ciphertextBlob: Buffer;
  /** The key's ARN as KMS answers it (the request may name an id or an alias). */
  keyArn?: string;
}

/** kms:GenerateDataKey of 64 bytes with the session's encryption context (reference §3). */
export async function generateDataKey(kms: KMSClient, input: { keyId: string; context: Record<string, string> }): Promise<DataKey> {
  const out = await call({ action: "kms:GenerateDataKey", object: `key ${input.keyId}` }, () =>
    kms.send(new GenerateDataKeyCommand({ KeyId: input.keyId, NumberOfBytes: 64, EncryptionContext: input.context })),
  );
  if (!out.Plaintext || !out.CiphertextBlob) throw new Error(`kms:GenerateDataKey on key ${input.keyId} returned no key.`);
  const plaintext = Buffer.from(out.Plaintext);
  registerSecret(plaintext.toString("base64"));
  registerSecret(plaintext.toString("hex"));
  return { plaintext, ciphertextBlob: Buffer.from(out.CiphertextBlob), keyArn: out.KeyId };
}

function grantOf(sessionId: string | undefined, streamUrl: string | undefined, tokenValue: string | undefined, what: string): SessionGrant {
  if (!sessionId || !streamUrl || !tokenValue) throw new Error(`${what} returned no session (SessionId, StreamUrl and TokenValue are required).`);
  registerSecret(tokenValue);
  return { sessionId, streamUrl, tokenValue };
}

/**
 * The endpoint URL a client calls, as awscli's `client.meta.endpoint_url` (the plugin's argv6):
 * AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then an explicit endpoint, then the SDK's resolver.
 */
export async function getEndpointUrl(
  client: SSMClient | ECSClient,
  service: "SSM" | "ECS",
  region: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const fromEnv = env[`AWS_ENDPOINT_URL_${service}`] || env.AWS_ENDPOINT_URL;
  if (fromEnv) return fromEnv.replace(/\/$/, "");
  const config = client.config as unknown as {
    endpoint?: () => Promise<{ protocol: string; hostname: string; port?: number; path: string }>;
    endpointProvider: (params: Record<string, unknown>) => { url: URL };
  };
  const explicit = await config.endpoint?.();
  if (explicit) return `${explicit.protocol}//${explicit.hostname}${explicit.port ? `:${explicit.port}` : ""}${explicit.path}`.replace(/\/$/, "");
  return config.endpointProvider({ Region: region, UseFIPS: false, UseDualStack: false }).url.href.replace(/\/$/, "");
}

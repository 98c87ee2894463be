// The client's side of the session handshake (reference/session-protocol.md §3; plugin
// handleHandshakeRequest): answer SessionType and KMSEncryption, the encryption challenge, and
// wait for HandshakeComplete. Shells without KMS skip it: their first Output is the signal.
import type { KMSClient } from "@aws-sdk/client-kms";
import { generateDataKey } from "../aws/sessions.ts";
import type { Logger } from "../log.ts";
import {
  ActionStatus,
  type EncChallenge,
  type HandshakeComplete,
  type HandshakeRequest,
  type HandshakeResponse,
  PayloadType,
  type ProcessedClientAction,
  type RequestedClientAction,
} from "./frames.ts";
import { createSessionCipher, type SessionCipher } from "./kms.ts";
import type { DataChannel } from "./channel.ts";
import { CLIENT_VERSION } from "./channel.ts";

export interface HandshakeResult {
  agentVersion: string;
  sessionType: string;
  /** The session document's properties (Port: portNumber, type, localPortNumber, host). */
  properties: Record<string, string>;
  cipher?: SessionCipher;
  customerMessage: string;
}

export interface HandshakeContext {
  channel: DataChannel;
  target: string;
  kms?: KMSClient;
  log?: Logger;
  clientVersion?: string;
}

const SESSION_TYPES = new Set(["Port", "Standard_Stream", "InteractiveCommands", "NonInteractiveCommands"]);

/**
 * Answers the agent's handshake messages as they arrive; `handle` returns true for the payloads it
 * consumed. `result` resolves on HandshakeComplete.
 */
export function createHandshake(ctx: HandshakeContext): { handle(type: number, payload: Buffer): boolean; result: Promise<HandshakeResult> } {
  const state: HandshakeResult = { agentVersion: "", sessionType: "", properties: {}, customerMessage: "" };
  let complete!: (r: HandshakeResult) => void;
  let fail!: (e: Error) => void;
  const result = new Promise<HandshakeResult>((resolve, reject) => {
    complete = resolve;
    fail = reject;
  });
  result.catch(() => {});
  let requestDone: Promise<void> = Promise.resolve();

  async function answerRequest(request: HandshakeRequest): Promise<void> {
    state.agentVersion = request.AgentVersion;
    const processed: ProcessedClientAction[] = [];
    for (const action of request.RequestedClientActions ?? []) processed.push(await processAction(action));
    const response: HandshakeResponse = { ClientVersion: ctx.clientVersion ?? CLIENT_VERSION, ProcessedClientActions: processed, Errors: null };
    ctx.channel.send(PayloadType.HandshakeResponse, Buffer.from(JSON.stringify(response)));
  }

  async function processAction(action: RequestedClientAction): Promise<ProcessedClientAction> {
    const ok = (result: unknown = null): ProcessedClientAction => ({ ActionType: action.ActionType, ActionStatus: ActionStatus.Success, ActionResult: result, Error: "" });
    const failed = (status: number, error: string): ProcessedClientAction => ({ ActionType: action.ActionType, ActionStatus: status, ActionResult: null, Error: error });
    if (action.ActionType === "SessionType") {
      const { SessionType, Properties } = action.ActionParameters;
      if (!SESSION_TYPES.has(SessionType)) return failed(ActionStatus.Unsupported, `Unknown session type ${SessionType}`);
      state.sessionType = SessionType;
      state.properties = (Properties ?? {}) as Record<string, string>;
      return ok();
    }
    if (action.ActionType === "KMSEncryption") {
      if (!ctx.kms) return failed(ActionStatus.Failed, "KMS encryption was requested but no KMS client was given");
      try {
        const key = await generateDataKey(ctx.kms, {
          keyId: action.ActionParameters.KMSKeyId,
          context: { "aws:ssm:SessionId": ctx.channel.sessionId, "aws:ssm:TargetId": ctx.target },
        });
        state.cipher = createSessionCipher(key.plaintext);
        key.plaintext.fill(0);
        return ok({ KMSCipherTextKey: key.ciphertextBlob.toString("base64") });
      } catch (error) {
        return failed(ActionStatus.Failed, (error as Error).message);
      }
    }
    return failed(ActionStatus.Unsupported, `Unsupported action ${(action as { ActionType: string }).ActionType}`);
  }

  function answerChallenge(body: EncChallenge): void {
    if (!state.cipher) throw new Error("EncChallengeRequest before the KMS key was set up");
    const challenge = state.cipher.decrypt(Buffer.from(body.Challenge, "base64"));
    const answer: EncChallenge = { Challenge: state.cipher.encrypt(challenge).toString("base64") };
    ctx.channel.send(PayloadType.EncChallengeResponse, Buffer.from(JSON.stringify(answer)));
  }

  return {
    result,
    handle(type, payload) {
      switch (type) {
        case PayloadType.HandshakeRequest:
          requestDone = answerRequest(JSON.parse(payload.toString("utf8")) as HandshakeRequest).catch((e: Error) => fail(e));
          return true;
        case PayloadType.EncChallengeRequest: {
          const body = JSON.parse(payload.toString("utf8")) as EncChallenge;
          // The challenge may arrive while GenerateDataKey's answer is still being sent.
          void requestDone.then(() => answerChallenge(body)).catch((e: Error) => fail(e));
          return true;
        }
        case PayloadType.HandshakeComplete: {
          const body = JSON.parse(payload.toString("utf8")) as HandshakeComplete;
          state.customerMessage = body.CustomerMessage ?? "";
          void requestDone.then(() => complete(state));
          return true;
        }
        default:
          return false;
      }
    },
  };
}

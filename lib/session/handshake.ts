// The client's side of the session handshake (docs/session-protocol.md §3; plugin
// handleHandshakeRequest): answer SessionType and KMSEncryption, the encryption challenge, and
// wait for HandshakeComplete, then a moment more. Shells without KMS skip it: their first Output is the signal.
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
import { CLIENT_VERSION } from "./versions.ts";

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
  /** After HandshakeComplete, before `result` resolves; default HANDSHAKE_SETTLE_MS (0 only to show the race). */
  settleMs?: number;
}

/**
 * How long after HandshakeComplete we wait before the first data: the agent sets its handshake
 * complete only after sending that message, and acks and throws away input that beats it
 * (datachannel.go processStreamDataMessage); a smux SYN sent at once was lost once in six runs.
 * The local cloud widens that race to 100 ms so that a client that does not wait fails there.
 */
export const HANDSHAKE_SETTLE_MS = 150;

const SESSION_TYPES = new Set(["Port", "Standard_Stream", "InteractiveCommands", "NonInteractiveCommands"]);

/**
 * Answers the agent's handshake messages as they arrive; `handle` returns true for the payloads it
 * consumed. `result` resolves on HandshakeComplete.
 */
export function createHandshake(ctx: HandshakeContext): { handle(type: number, payload: Buffer): boolean; result: Promise<HandshakeResult> } {
  return new Handshake(ctx);
}

class Handshake {
  readonly result: Promise<HandshakeResult>;
  private readonly state: HandshakeResult = { agentVersion: "", sessionType: "", properties: {}, customerMessage: "" };
  private complete!: (r: HandshakeResult) => void;
  private fail!: (e: Error) => void;
  private requestDone: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: HandshakeContext) {
    this.result = new Promise<HandshakeResult>((resolve, reject) => {
      this.complete = resolve;
      this.fail = reject;
    });
    this.result.catch(() => {});
  }

  handle(type: number, payload: Buffer): boolean {
    switch (type) {
      case PayloadType.HandshakeRequest:
        this.requestDone = this.answerRequest(JSON.parse(payload.toString("utf8")) as HandshakeRequest).catch((e: Error) => this.fail(e));
        return true;
      case PayloadType.EncChallengeRequest: {
        const body = JSON.parse(payload.toString("utf8")) as EncChallenge;
        // The challenge may arrive while GenerateDataKey's answer is still being sent.
        void this.requestDone.then(() => this.answerChallenge(body)).catch((e: Error) => this.fail(e));
        return true;
      }
      case PayloadType.HandshakeComplete: {
        const body = JSON.parse(payload.toString("utf8")) as HandshakeComplete;
        this.state.customerMessage = body.CustomerMessage ?? "";
        void this.requestDone.then(() => new Promise((r) => setTimeout(r, this.ctx.settleMs ?? HANDSHAKE_SETTLE_MS))).then(() => this.complete(this.state));
        return true;
      }
      default:
        return false;
    }
  }

  private async answerRequest(request: HandshakeRequest): Promise<void> {
    this.state.agentVersion = request.AgentVersion;
    const processed: ProcessedClientAction[] = [];
    for (const action of request.RequestedClientActions ?? []) processed.push(await this.processAction(action));
    const response: HandshakeResponse = { ClientVersion: this.ctx.clientVersion ?? CLIENT_VERSION, ProcessedClientActions: processed, Errors: null };
    this.ctx.channel.send(PayloadType.HandshakeResponse, Buffer.from(JSON.stringify(response)));
  }

  private async processAction(action: RequestedClientAction): Promise<ProcessedClientAction> {
    if (action.ActionType === "SessionType") return this.setSessionType(action);
    if (action.ActionType === "KMSEncryption") return this.setUpKms(action);
    return failedAction(action, ActionStatus.Unsupported, `Unsupported action ${(action as { ActionType: string }).ActionType}`);
  }

  private setSessionType(action: Extract<RequestedClientAction, { ActionType: "SessionType" }>): ProcessedClientAction {
    const { SessionType, Properties } = action.ActionParameters;
    if (!SESSION_TYPES.has(SessionType)) return failedAction(action, ActionStatus.Unsupported, `Unknown session type ${SessionType}`);
    this.state.sessionType = SessionType;
    this.state.properties = (Properties ?? {}) as Record<string, string>;
    return succeededAction(action);
  }

  private async setUpKms(action: Extract<RequestedClientAction, { ActionType: "KMSEncryption" }>): Promise<ProcessedClientAction> {
    const { ctx } = this;
    if (!ctx.kms) return failedAction(action, ActionStatus.Failed, "KMS encryption was requested but no KMS client was given");
    try {
      const key = await generateDataKey(ctx.kms, {
        keyId: action.ActionParameters.KMSKeyId,
        context: { "aws:ssm:SessionId": ctx.channel.sessionId, "aws:ssm:TargetId": ctx.target },
      });
      this.state.cipher = createSessionCipher(key.plaintext);
      key.plaintext.fill(0);
      return succeededAction(action, { KMSCipherTextKey: key.ciphertextBlob.toString("base64") });
    } catch (error) {
      return failedAction(action, ActionStatus.Failed, (error as Error).message);
    }
  }

  private answerChallenge(body: EncChallenge): void {
    const { cipher } = this.state;
    if (!cipher) throw new Error("EncChallengeRequest before the KMS key was set up");
    const challenge = cipher.decrypt(Buffer.from(body.Challenge, "base64"));
    const answer: EncChallenge = { Challenge: cipher.encrypt(challenge).toString("base64") };
    this.ctx.channel.send(PayloadType.EncChallengeResponse, Buffer.from(JSON.stringify(answer)));
  }
}

function succeededAction(action: RequestedClientAction, result: unknown = null): ProcessedClientAction {
  return { ActionType: action.ActionType, ActionStatus: ActionStatus.Success, ActionResult: result, Error: "" };
}

function failedAction(action: RequestedClientAction, status: number, error: string): ProcessedClientAction {
  return { ActionType: action.ActionType, ActionStatus: status, ActionResult: null, Error: error };
}

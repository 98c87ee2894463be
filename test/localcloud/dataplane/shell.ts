// The agent's shell plugin (Standard_Stream / ECS Exec interactive; docs/session-protocol.md
// §5): a real pty running the command in the container's cwd and env, Size payloads resize it,
// channel_closed when the command exits. KMS sessions first do the handshake and challenge of §3.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { Readable, Writable } from "node:stream";
import {
  type EncChallenge,
  type Frame,
  type HandshakeResponse,
  parseFlagPayload,
  PayloadType,
  PortFlag,
  type SizePayload,
} from "../../../lib/session/frames.ts";
import { HANDSHAKE_RACE_MS, HANDSHAKE_TIMEOUT_MS, HandshakeError, performHandshake } from "./handshake.ts";
import { decryptGcm, encryptGcm, kmsContext, type SessionKeys, splitDataKey } from "./kms.ts";
import { pumpToChannel } from "./pump.ts";
import type { Agent, DataSession } from "./session.ts";

const PTY_HELPER = fileURLToPath(new URL("./pty_helper.py", import.meta.url));
const INITIAL_SIZE = { cols: 80, rows: 24 };
/** How long the exit waits for the last output to be acked before channel_closed. */
const FINAL_ACK_TIMEOUT_MS = 10_000;
const KMS_CUSTOMER_MESSAGE = "This session is encrypted using AWS KMS.";

type ShellSpec = Extract<DataSession["spec"], { kind: "shell" }>;

export class ShellAgent implements Agent {
  private child: ChildProcess | undefined;
  private keys: SessionKeys | undefined;
  private ready = false;
  private handshaking = false;
  private early: Frame[] = [];
  private stopped = false;

  constructor(
    private readonly session: DataSession,
    private readonly spec: ShellSpec,
  ) {}

  start(): void {
    // Without KMS the agent skips the handshake and streams at once (§3 "Who does it").
    if (!this.spec.kmsKeyId) return this.startPty();
    this.handshaking = true;
    void this.kmsHandshake().then(
      async () => {
        // As for port sessions: handshake.complete is set only after HandshakeComplete went out.
        if (this.session.rules().handshakeDiscard) await new Promise((r) => setTimeout(r, HANDSHAKE_RACE_MS));
        this.handshaking = false;
        this.startPty();
      },
      (err: Error) => {
        const output = err instanceof HandshakeError ? err.output : String(err);
        this.session.terminate({ output, reason: `handshake failed: ${err.message}` });
      },
    );
  }

  openStreams(): number {
    return this.child && this.child.exitCode === null ? 1 : 0;
  }

  onPayload(frame: Frame): void {
    if (!this.ready) {
      // During a handshake the agent acks input and throws it away; a shell still starting leaves it unacked (held here).
      if (this.handshaking && this.session.rules().handshakeDiscard) return this.session.discardEarly();
      this.early.push(frame);
      return;
    }
    const child = this.child!;
    switch (frame.payloadType) {
      case PayloadType.Output: {
        const input = this.keys ? decryptGcm(this.keys.clientKey, frame.payload) : frame.payload;
        this.session.writeInput(child.stdin!, input);
        return;
      }
      case PayloadType.Size: {
        const size = JSON.parse(frame.payload.toString("utf8")) as SizePayload;
        if (size.rows > 0 && size.cols > 0) (child.stdio[3] as Writable).write(`${size.rows} ${size.cols}\n`);
        return;
      }
      case PayloadType.Flag:
        if (parseFlagPayload(frame.payload) === PortFlag.TerminateSession) {
          this.session.terminate({ output: "", reason: "TerminateSession flag from the client" });
        }
        return;
    }
  }

  stop(): void {
    this.stopped = true;
    // Closing the pty master (the helper's exit) hangs up the shell.
    if (this.child && this.child.exitCode === null) this.child.kill("SIGTERM");
  }

  private startPty(): void {
    if (this.stopped) return;
    const shell = this.spec.command === undefined ? ["/bin/sh"] : ["/bin/sh", "-c", this.spec.command];
    const command = [...(this.spec.inside ?? []), ...shell];
    const env = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", TERM: "xterm-256color", ...this.spec.env };
    const child = spawn("python3", [PTY_HELPER, String(INITIAL_SIZE.rows), String(INITIAL_SIZE.cols), ...command], {
      cwd: this.spec.cwd,
      env,
      stdio: ["pipe", "pipe", "pipe", "pipe"],
    });
    this.child = child;
    child.on("error", (err) => this.session.terminate({ output: `Unable to start the shell: ${err.message}`, reason: err.message }));
    for (const io of [child.stdin, child.stdio[3]] as Writable[]) io.on("error", () => {});
    child.stderr!.resume();
    const keys = this.keys;
    const target = this.session.pumpTarget();
    const pumped = pumpToChannel(child.stdout as Readable, {
      ...target,
      send: keys ? (chunk) => target.send(encryptGcm(keys.agentKey, chunk)) : target.send,
    });
    child.on("exit", (code, signal) => {
      void pumped
        .then(() => this.session.allAcked(FINAL_ACK_TIMEOUT_MS))
        .then(() => this.session.terminate({ output: "", reason: `command exited with ${signal ?? `code ${code}`}` }));
    });
    this.ready = true;
    const early = this.early;
    this.early = [];
    for (const frame of early) this.onPayload(frame);
  }

  private async kmsHandshake(): Promise<void> {
    const { session, spec } = this;
    const challenge = randomBytes(16).toString("base64");
    await performHandshake(
      session,
      session.agentVersion,
      [
        { ActionType: "SessionType", ActionParameters: { SessionType: "Standard_Stream", Properties: null } },
        { ActionType: "KMSEncryption", ActionParameters: { KMSKeyId: spec.kmsKeyId!, Challenge: challenge } },
      ],
      { afterResponse: (response) => this.exchangeKeys(response, challenge), customerMessage: KMS_CUSTOMER_MESSAGE },
    );
  }

  private async exchangeKeys(response: HandshakeResponse, challenge: string): Promise<void> {
    const action = response.ProcessedClientActions.find((a) => a.ActionType === "KMSEncryption");
    const result = action?.ActionResult as { KMSCipherTextKey?: string; ChallengeAcknowledgement?: boolean } | null | undefined;
    if (!result?.KMSCipherTextKey) throw new HandshakeError("KMSEncryption failed on client: no KMSCipherTextKey in the HandshakeResponse");
    const decrypt = this.session.opts.kmsDecrypt;
    if (!decrypt) throw new HandshakeError("KMSEncryption failed on agent: the local cloud has no kmsDecrypt");
    const context = kmsContext(this.spec.sessionId, this.spec.target, result.ChallengeAcknowledgement ? challenge : undefined);
    let keys: SessionKeys;
    try {
      keys = splitDataKey(await decrypt(Buffer.from(result.KMSCipherTextKey, "base64"), context));
    } catch (err) {
      throw new HandshakeError(`KMSEncryption failed on agent: ${(err as Error).message}`);
    }
    const secret = randomBytes(64);
    const answer = this.session.expectPayload(PayloadType.EncChallengeResponse, HANDSHAKE_TIMEOUT_MS);
    const request: EncChallenge = { Challenge: encryptGcm(keys.agentKey, secret).toString("base64") };
    this.session.send(PayloadType.EncChallengeRequest, Buffer.from(JSON.stringify(request)));
    let returned: Buffer;
    try {
      const body = JSON.parse((await answer).payload.toString("utf8")) as EncChallenge;
      returned = decryptGcm(keys.clientKey, Buffer.from(body.Challenge, "base64"));
    } catch (err) {
      throw new HandshakeError(`EncChallenge failed: ${(err as Error).message}`);
    }
    if (!returned.equals(secret)) throw new HandshakeError("EncChallenge failed: the client returned a different challenge");
    this.keys = keys;
  }
}

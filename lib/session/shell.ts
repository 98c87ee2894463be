// A native interactive shell (docs/session-protocol.md §5): raw terminal, Size on start and
// on every 'resize', input as Output payloads (encrypted under KMS), every incoming payload to
// stdout, and the end when channel_closed arrives — with the terminal restored on every path.
import { executeCommand, startSession, terminateSession, type SessionGrant } from "../aws/sessions.ts";
import type { DataChannel } from "./channel.ts";
import { openDataChannelOrTerminate } from "./connect.ts";
import { PayloadType } from "./frames.ts";
import { createHandshake, type HandshakeResult } from "./handshake.ts";
import type { SessionCipher } from "./kms.ts";
import { startFlowingPump } from "./pump.ts";
import { takeTerminal, type Terminal } from "./terminal.ts";
import type { Shell, ShellOptions } from "./types.ts";

const OUTPUT_TYPES = new Set<number>([PayloadType.Output, PayloadType.Error, PayloadType.StdErr, PayloadType.ExitCode]);

type NativeShellOptions = ShellOptions & { payloadSize?: number };

export async function startNativeShell(options: NativeShellOptions): Promise<Shell> {
  const grant = await startShellSession(options);
  const channel = await openDataChannelOrTerminate(grant, { ssm: options.clients.ssm, region: options.region, log: options.log });
  const shell = new NativeShell(options, grant, channel);
  return { client: "native", sessionId: grant.sessionId, exit: shell.exit, stop: () => shell.stop() };
}

/** ECS Exec's ExecuteCommand, or StartSession for an SSM target. */
function startShellSession({ via, clients }: NativeShellOptions): Promise<SessionGrant> {
  return via.kind === "ecs"
    ? executeCommand(clients.ecs, { cluster: via.cluster, task: via.task, container: via.container, command: via.command })
    : startSession(clients.ssm, { target: via.target, documentName: via.documentName, parameters: via.parameters });
}

/** One shell on an open data channel: the terminal, the handshake, the output and the end. */
class NativeShell {
  readonly exit: Promise<number>;
  private readonly stdin: NodeJS.ReadStream;
  private readonly stdout: NodeJS.WriteStream;
  private readonly terminal: Terminal;
  private readonly handshake: ReturnType<typeof createHandshake>;
  private cipher: SessionCipher | undefined;
  private streaming = false;
  private handshaking = false;
  /** HandshakeComplete came: the handshake's result follows once it has settled. */
  private completed = false;
  private handshakeDone = false;
  private closed = false;
  private ended = false;
  /** Output that came after HandshakeComplete, while the handshake's result (and cipher) was still settling. */
  private readonly early: Array<[number, Buffer]> = [];
  private stopPump = () => {};
  private finish!: (code: number) => void;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly options: NativeShellOptions,
    private readonly grant: SessionGrant,
    private readonly channel: DataChannel,
  ) {
    this.stdin = options.stdin ?? process.stdin;
    this.stdout = options.stdout ?? process.stdout;
    this.terminal = takeTerminal(this.stdin, this.stdout);
    this.handshake = createHandshake({ channel, target: options.via.target, kms: options.clients.kms, log: options.log, settleMs: options.handshakeSettleMs });
    this.exit = new Promise<number>((resolve) => (this.finish = resolve));
    this.stdout.on("drain", () => channel.resumeInput());
    channel.on("payload", (type: number, payload: Buffer) => this.onPayload(type, payload));
    this.handshake.result.then(
      (result) => this.onHandshakeDone(result),
      (error: Error) => this.end(1, `\r\nThe session handshake failed: ${error.message}\r\n`),
    );
    channel.once("closed", (output: string) => this.onClosed(output));
    channel.once("gone", (reason: string) => this.onGone(reason));
    this.stopOnSignals();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.end(130, "");
      await terminateSession(this.options.clients.ssm, this.grant.sessionId).catch(() => {});
    })();
    return this.stopping;
  }

  private onPayload(type: number, payload: Buffer): void {
    if (type === PayloadType.HandshakeRequest) this.handshaking = true;
    if (type === PayloadType.HandshakeComplete) this.completed = true;
    if (this.handshake.handle(type, payload)) return;
    if (!OUTPUT_TYPES.has(type)) return;
    if (!this.handshaking) this.startStreaming();
    if (this.handshaking && !this.handshakeDone) this.early.push([type, payload]);
    else this.show(type, payload);
  }

  private onHandshakeDone(result: HandshakeResult): void {
    this.cipher = result.cipher;
    this.handshakeDone = true;
    if (result.customerMessage) this.stdout.write(`\r\n${result.customerMessage}\r\n`);
    for (const [type, payload] of this.early.splice(0)) this.show(type, payload);
    if (!this.closed) this.startStreaming();
  }

  private onClosed(output: string): void {
    const { sessionId } = this.grant;
    this.closed = true;
    const text = output.trim() ? `\r\n\r\nSessionId: ${sessionId} : ${output.trim()}\r\n\r\n` : `\r\n\r\nExiting session with sessionId: ${sessionId}.\r\n\r\n`;
    // The agent reports a failed session (a KMS handshake error…) in Output as "----------ERROR-------\n…";
    // the plugin still exits 0, but our exit code says whether the session worked.
    const ending = () => this.end(/^-+ERROR-+/.test(output.trim()) ? 1 : 0, text.replace(/\r?\n/g, "\r\n"));
    // A short command's whole output (and the end) can come after HandshakeComplete while the
    // handshake is still settling: show what it printed first, once the result (and its cipher) is
    // there. A session closed before HandshakeComplete (a failed handshake) ends at once.
    if (this.completed && !this.handshakeDone) void this.handshake.result.then(ending, ending);
    else ending();
  }

  private onGone(reason: string): void {
    this.options.log?.error(reason);
    this.end(1, `\r\nThe connection to session ${this.grant.sessionId} was lost: ${reason}\r\n`);
  }

  /** SIGTERM/SIGHUP (the terminal went away) end the session cleanly; Ctrl-C is a byte in raw mode. */
  private stopOnSignals(): void {
    const onSignal = () => void this.stop();
    process.once("SIGTERM", onSignal);
    process.once("SIGHUP", onSignal);
    void this.exit.finally(() => {
      process.off("SIGTERM", onSignal);
      process.off("SIGHUP", onSignal);
    });
  }

  /** The plugin starts its shell handler on HandshakeComplete, or on the first Output without a handshake. */
  private startStreaming(): void {
    if (this.streaming) return;
    this.streaming = true;
    const sendSize = () => this.channel.send(PayloadType.Size, Buffer.from(JSON.stringify(this.terminal.size())));
    sendSize();
    this.terminal.onResize(sendSize);
    const { cipher } = this;
    this.stopPump = startFlowingPump(this.stdin, this.channel, {
      payloadSize: this.options.payloadSize,
      transform: cipher ? (b) => cipher.encrypt(b) : undefined,
    });
  }

  private show(type: number, payload: Buffer): void {
    const bytes = this.cipher && type !== PayloadType.Error ? this.cipher.decrypt(payload) : payload;
    if (!this.stdout.write(bytes)) this.channel.pauseInput();
  }

  private end(code: number, message: string): void {
    if (this.ended) return;
    this.ended = true;
    this.stopPump();
    this.terminal.restore();
    this.channel.close();
    if (message) this.stdout.write(message);
    this.finish(code);
  }
}

// A native interactive shell (reference/session-protocol.md §5): raw terminal, Size on start and
// on every 'resize', input as Output payloads (encrypted under KMS), every incoming payload to
// stdout, and the end when channel_closed arrives — with the terminal restored on every path.
import { executeCommand, startSession, terminateSession } from "../aws/sessions.ts";
import type { DataChannel } from "./channel.ts";
import { openDataChannel } from "./connect.ts";
import { PayloadType } from "./frames.ts";
import { createHandshake } from "./handshake.ts";
import type { SessionCipher } from "./kms.ts";
import { startFlowingPump } from "./pump.ts";
import { takeTerminal } from "./terminal.ts";
import type { Shell, ShellOptions } from "./types.ts";

const OUTPUT_TYPES = new Set<number>([PayloadType.Output, PayloadType.Error, PayloadType.StdErr, PayloadType.ExitCode]);

export async function startNativeShell(options: ShellOptions & { payloadSize?: number }): Promise<Shell> {
  const { via, log } = options;
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const grant = via.kind === "ecs"
    ? await executeCommand(options.clients.ecs, { cluster: via.cluster, task: via.task, container: via.container, command: via.command })
    : await startSession(options.clients.ssm, { target: via.target, documentName: via.documentName, parameters: via.parameters });
  let channel: DataChannel;
  try {
    channel = await openDataChannel(grant, { ssm: options.clients.ssm, region: options.region, log });
  } catch (error) {
    await terminateSession(options.clients.ssm, grant.sessionId).catch(() => {});
    throw new Error(`Could not open the data channel of session ${grant.sessionId}: ${(error as Error).message}`, { cause: error });
  }
  const terminal = takeTerminal(stdin, stdout);
  const handshake = createHandshake({ channel, target: via.target, kms: options.clients.kms, log });
  let cipher: SessionCipher | undefined;
  let streaming = false;
  let handshaking = false;
  let stopPump = () => {};
  let finish!: (code: number) => void;
  const exit = new Promise<number>((resolve) => (finish = resolve));

  const sendSize = () => channel.send(PayloadType.Size, Buffer.from(JSON.stringify(terminal.size())));
  // The plugin starts its shell handler on HandshakeComplete, or on the first Output without a handshake.
  const startStreaming = () => {
    if (streaming) return;
    streaming = true;
    sendSize();
    terminal.onResize(sendSize);
    stopPump = startFlowingPump(stdin, channel, { payloadSize: options.payloadSize, transform: cipher ? (b) => cipher!.encrypt(b) : undefined });
  };
  stdout.on("drain", () => channel.resumeInput());

  const end = (code: number, message: string) => {
    stopPump();
    terminal.restore();
    channel.close();
    if (message) stdout.write(message);
    finish(code);
  };

  channel.on("payload", (type: number, payload: Buffer) => {
    if (type === PayloadType.HandshakeRequest) handshaking = true;
    if (handshake.handle(type, payload)) return;
    if (!OUTPUT_TYPES.has(type)) return;
    if (!handshaking) startStreaming();
    const bytes = cipher && type !== PayloadType.Error ? cipher.decrypt(payload) : payload;
    if (!stdout.write(bytes)) channel.pauseInput();
  });
  handshake.result.then((result) => {
    cipher = result.cipher;
    if (result.customerMessage) stdout.write(`\r\n${result.customerMessage}\r\n`);
    startStreaming();
  }, (error: Error) => end(1, `\r\nThe session handshake failed: ${error.message}\r\n`));
  channel.once("closed", (output: string) => {
    const text = output.trim() ? `\r\n\r\nSessionId: ${grant.sessionId} : ${output.trim()}\r\n\r\n` : `\r\n\r\nExiting session with sessionId: ${grant.sessionId}.\r\n\r\n`;
    // The agent reports a failed session (a KMS handshake error…) in Output as "----------ERROR-------\n…";
    // the plugin still exits 0, but our exit code says whether the session worked.
    end(/^-+ERROR-+/.test(output.trim()) ? 1 : 0, text.replace(/\r?\n/g, "\r\n"));
  });
  channel.once("gone", (reason: string) => {
    log?.error(reason);
    end(1, `\r\nThe connection to session ${grant.sessionId} was lost: ${reason}\r\n`);
  });
  // SIGTERM/SIGHUP (the terminal went away) end the session cleanly; Ctrl-C is a byte in raw mode.
  const onSignal = () => void stop();
  process.once("SIGTERM", onSignal);
  process.once("SIGHUP", onSignal);
  void exit.finally(() => {
    process.off("SIGTERM", onSignal);
    process.off("SIGHUP", onSignal);
  });

  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopping ??= (async () => {
      end(130, "");
      await terminateSession(options.clients.ssm, grant.sessionId).catch(() => {});
    })();
    return stopping;
  }
  return { client: "native", sessionId: grant.sessionId, exit, stop };
}

// The agent's port plugin (docs/session-protocol.md §4; amazon-ssm-agent
// agent/session/plugins/port): handshake with SessionType Port, then smux ("mux") or a single
// connection ("basic"), dialling the target through the local cloud's host map.
import { connect, type Socket } from "node:net";
import { DOC_PORT_FORWARD_REMOTE } from "../../../lib/constants.ts";
import { buildFlagPayload, type Frame, parseFlagPayload, PayloadType, PortFlag, type PortProperties } from "../../../lib/session/frames.ts";
import { SmuxSession, type SmuxStream } from "../../../lib/session/smux.ts";
import { forbiddenHostMessage, isDeniedHost } from "./denylist.ts";
import { HANDSHAKE_RACE_MS, HandshakeError, performHandshake } from "./handshake.ts";
import { pumpToChannel } from "./pump.ts";
import type { Agent, DataSession } from "./session.ts";
import { LOCAL_PORT_FORWARDING, planPortMode } from "./versions.ts";

export const DEFAULT_AGENT_VERSION = "3.3.1142.0";
const SMUX_KEEPALIVE_INTERVAL_MS = 10_000;
const SMUX_KEEPALIVE_TIMEOUT_MS = 30_000;

type PortSpec = Extract<DataSession["spec"], { kind: "port" }>;

/** The document's `properties` with parameters substituted, as the agent puts them in HandshakeRequest. */
export function portProperties(spec: PortSpec): PortProperties {
  const properties: PortProperties = { portNumber: String(spec.port) };
  // AWS-StartSSHSession's document has no `type`: the plugin then forwards stdin/stdout (basic).
  if (spec.documentName !== "AWS-StartSSHSession") properties.type = LOCAL_PORT_FORWARDING;
  properties.localPortNumber = spec.localPortNumber ?? "0";
  if (spec.documentName === DOC_PORT_FORWARD_REMOTE) properties.host = spec.host;
  return properties;
}

export class PortAgent implements Agent {
  mode: "mux" | "basic" | undefined;
  private ready = false;
  private early: Frame[] = [];
  private mux: SmuxSession | undefined;
  private readonly streams = new Set<SmuxStream>();
  private basicSocket: Socket | undefined;
  private stopped = false;
  /** The agent's own mark, HANDSHAKE_RACE_MS after HandshakeComplete went out: input before it is lost. */
  private handshakeMarkedComplete = false;

  constructor(
    private readonly session: DataSession,
    private readonly spec: PortSpec,
  ) {}

  start(): void {
    void this.handshakeThenForward();
  }

  openStreams(): number {
    if (this.mode === "mux") return this.streams.size;
    return this.basicSocket && !this.basicSocket.destroyed ? 1 : 0;
  }

  onPayload(frame: Frame): void {
    if (!this.ready) {
      // The agent acks input that comes before its handshake is complete and throws it away
      // (datachannel.go processStreamDataMessage); with handshakeDiscard off it is held instead.
      // After that, while the port plugin gets ready (the denylist's DNS lookup, the dial), the
      // agent leaves input unacknowledged and the client resends it: held here, with the same end.
      if (this.session.rules().handshakeDiscard && !this.handshakeMarkedComplete) this.session.discardEarly();
      else this.early.push(frame);
      return;
    }
    if (frame.payloadType === PayloadType.Flag) return this.onFlag(parseFlagPayload(frame.payload));
    if (frame.payloadType !== PayloadType.Output) return;
    const sink = this.mode === "mux" ? this.mux! : this.liveBasicSocket();
    this.session.writeInput(sink, frame.payload);
  }

  stop(): void {
    this.stopped = true;
    this.mux?.destroy();
    for (const stream of this.streams) stream.destroy();
    this.basicSocket?.destroy();
  }

  private async handshakeThenForward(): Promise<void> {
    const agentVersion = this.session.agentVersion;
    const properties = portProperties(this.spec);
    let clientVersion: string;
    try {
      const response = await performHandshake(this.session, agentVersion, [
        { ActionType: "SessionType", ActionParameters: { SessionType: "Port", Properties: properties } },
      ]);
      clientVersion = response.ClientVersion ?? this.session.clientVersion ?? "";
    } catch (err) {
      const output = err instanceof HandshakeError ? err.output : String(err);
      return this.session.terminate({ output, reason: `handshake failed: ${(err as Error).message}` });
    }
    // The agent marks its handshake complete only after HandshakeComplete went out; input in between is lost.
    if (this.session.rules().handshakeDiscard) await new Promise((r) => setTimeout(r, HANDSHAKE_RACE_MS));
    this.handshakeMarkedComplete = true;
    if (this.stopped) return;
    if (this.spec.documentName === DOC_PORT_FORWARD_REMOTE && this.session.rules().denyRemoteHosts && (await this.isDenied())) {
      return this.session.terminate({ output: forbiddenHostMessage(this.spec.host), reason: `remote host ${this.spec.host} is denied`, denied: true });
    }
    if (this.stopped) return;
    const plan = planPortMode(properties.type, clientVersion, agentVersion);
    this.mode = plan.mode;
    if (plan.mode === "mux") this.startMux(plan.keepAlive);
    else this.dialBasic();
    this.ready = true;
    const early = this.early;
    this.early = [];
    for (const frame of early) this.onPayload(frame);
  }

  private onFlag(flag: number): void {
    if (flag === PortFlag.TerminateSession) {
      this.session.terminate({ output: "", reason: "TerminateSession flag from the client" });
    } else if (flag === PortFlag.DisconnectToPort && this.mode === "basic") {
      // The plugin's local client went away: drop the target connection, re-dial on the next data.
      this.basicSocket?.destroy();
      this.basicSocket = undefined;
    }
  }

  /**
   * The agent resolves the document's host and checks every address. A host the local cloud maps
   * (an RDS endpoint, a service name) stands for a private VPC address, as its DNS would give it,
   * so only an unmapped host is resolved here and checked.
   */
  private async isDenied(): Promise<boolean> {
    const mapped = this.session.opts.resolveHost?.(this.spec.host, this.spec.port);
    if (mapped && (mapped.host !== this.spec.host || mapped.port !== this.spec.port)) return false;
    return isDeniedHost(this.spec.host);
  }

  private dialTarget(): Socket {
    const resolved = this.session.opts.resolveHost?.(this.spec.host, this.spec.port) ?? { host: this.spec.host, port: this.spec.port };
    return connect({ host: resolved.host, port: resolved.port, allowHalfOpen: true });
  }

  private startMux(keepAlive: boolean): void {
    const mux = new SmuxSession({
      keepAliveIntervalMs: keepAlive ? SMUX_KEEPALIVE_INTERVAL_MS : undefined,
      keepAliveTimeoutMs: keepAlive ? SMUX_KEEPALIVE_TIMEOUT_MS : undefined,
    });
    this.mux = mux;
    mux.on("stream", (stream: SmuxStream) => this.forwardStream(stream));
    mux.on("error", (err: Error) => this.session.terminate({ output: err.message, reason: `smux: ${err.message}` }));
    void pumpToChannel(mux, this.session.pumpTarget());
  }

  /** SYN → dial; on failure the ConnectToPortError flag and a FIN for this stream only (§4.4). */
  private forwardStream(stream: SmuxStream): void {
    this.streams.add(stream);
    stream.on("close", () => this.streams.delete(stream));
    stream.on("error", () => {});
    const socket = this.dialTarget();
    let connected = false;
    socket.on("connect", () => {
      connected = true;
      stream.pipe(socket);
      socket.pipe(stream);
      if (this.session.rules().halfClose) return;
      // port_mux.go handleDataTransfer: whichever side ends first, once its bytes are written both
      // the stream and the target connection are closed: a client's FIN does not half-close the target.
      socket.once("finish", () => socket.destroy());
      socket.once("close", () => {
        if (!stream.writableEnded) stream.end();
      });
      stream.once("finish", () => {
        stream.destroy();
        socket.destroy();
      });
    });
    socket.on("error", () => {
      if (!connected) this.session.send(PayloadType.Flag, buildFlagPayload(PortFlag.ConnectToPortError));
      stream.destroy();
    });
    stream.on("close", () => {
      if (!socket.writableEnded) socket.destroy();
    });
  }

  /** Basic mode's target connection: the open one, or a new one. */
  private liveBasicSocket(): Socket {
    return this.basicSocket && !this.basicSocket.destroyed ? this.basicSocket : this.dialBasic();
  }

  private dialBasic(): Socket {
    const socket = this.dialTarget();
    this.basicSocket = socket;
    let connected = false;
    socket.on("connect", () => {
      connected = true;
      void pumpToChannel(socket, this.session.pumpTarget());
    });
    socket.on("error", (err) => {
      if (!connected && this.basicSocket === socket && !this.stopped) {
        this.session.terminate({
          output: `Unable to connect to ${this.spec.host}:${this.spec.port}: ${err.message}`,
          reason: `basic port session could not dial the target: ${err.message}`,
        });
      }
    });
    // A target-side close is not signalled to the client (§4.4); the next data re-dials.
    socket.on("close", () => {
      if (this.basicSocket === socket) this.basicSocket = undefined;
    });
    return socket;
  }
}

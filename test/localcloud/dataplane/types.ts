// The contract between the control-plane gateway (test/localcloud/gateway*) and the
// Session Manager data plane (test/localcloud/dataplane/). The gateway decides *whether* a session
// may start (TargetNotConnected, InvalidDocument…) and with what spec; the data plane speaks the
// WebSocket protocol behind StreamUrl and emulates the agent.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

export type SessionSpec =
  | {
      kind: "port";
      sessionId: string;
      /** `mi-…` or `ecs:<cluster>_<taskId>_<runtimeId>` */
      target: string;
      documentName: string;
      /** The host the agent dials ("localhost" when the document has none), before the host map. */
      host: string;
      port: number;
      /** Echoed into the HandshakeRequest Properties. */
      localPortNumber?: string;
      /** Overrides DataPlaneOptions.agentVersion for this session. */
      agentVersion?: string;
    }
  | {
      kind: "shell";
      sessionId: string;
      target: string;
      /** The command to run in a pty; undefined = the container's login shell (/bin/sh). */
      command?: string;
      cwd: string;
      env: Record<string, string>;
      /** An argv prefix that runs the shell inside a real container (`podman exec -it <name>`); env is then podman's. */
      inside?: string[];
      /** ECS cluster executeCommandConfiguration.kmsKeyId: a KMS handshake is performed. */
      kmsKeyId?: string;
      /** Overrides DataPlaneOptions.agentVersion for this session. */
      agentVersion?: string;
    };

export interface DataChannelFaults {
  /** Fractions 0..1 of binary frames, per direction ("in" = client→agent, "out" = agent→client). */
  drop?: { in?: number; out?: number };
  duplicate?: { in?: number; out?: number };
  reorder?: { in?: number; out?: number };
  /** Fixed delay added to every frame, ms. */
  delayMs?: number;
  /** Close every data-channel WebSocket with 1000 "Bye" this many seconds after it opened. */
  closeAfterSeconds?: number;
  /** Targets (exact string or prefix ending in "*") for which new sessions are refused. */
  refuseTargets?: string[];
  /**
   * The rules below model AWS and are on unless switched off here (README "Rules followed"); UNPACED
   * switches off the two that cap throughput, for a benchmark of our own ceiling.
   *
   * agentPacing: the agent's 1 KiB-and-1 ms output pacing. Default on.
   */
  agentPacing?: boolean;
  /** mgsRateLimit: MGS's per-session, per-direction limit in stream-data messages/s; false = none. Default 1000. */
  mgsRateLimit?: number | false;
  /** handshakeDiscard: input that arrives before the agent marked its handshake complete is acked and thrown away. Default on. */
  handshakeDiscard?: boolean;
  /** agentDuplicates: the fraction of output messages whose ack the agent misses (send-before-buffer race), so it resends them once. Default 0.03. */
  agentDuplicates?: number;
  /** halfClose: a client FIN only half-closes the target connection (kinder than the agent, which closes it). Default off. */
  halfClose?: boolean;
  /** denyRemoteHosts: the agent refuses loopback and the AWS link-local endpoints as the remote-host document's host. Default on. */
  denyRemoteHosts?: boolean;
  /** newStreamUrlOnResume: the fraction of ResumeSession answers that carry a new StreamUrl (the old one is then refused). Default 1. */
  newStreamUrlOnResume?: number;
  /**
   * AgentVersion of the agent on matching targets (keys as in refuseTargets), for sessions opened
   * from now on; e.g. {"ecs:stg-main_*": "3.0.196.0"} runs an agent without mux there (§4.2).
   */
  agentVersions?: Record<string, string>;
}

export interface DataChannelTally {
  dropped: number;
  duplicated: number;
  reordered: number;
  /** WebSockets closed with 1000 "Bye" by closeAfterSeconds. */
  closed: number;
  /** WebSockets cut by mgsRateLimit (pause_publication, then close 1011). */
  rateLimited: number;
  /** Input messages the agent acked and threw away because its handshake was not complete. */
  handshakeDiscarded: number;
  /** Output messages resent once because the agent missed their ack (agentDuplicates). */
  agentDuplicates: number;
  /** Remote-host sessions refused by denyRemoteHosts. */
  deniedHosts: number;
  /** ResumeSession answers that moved the session to a new StreamUrl. */
  newStreamUrls: number;
}

export interface SessionState {
  sessionId: string;
  target: string;
  kind: "port" | "shell";
  status: "Connected" | "Connecting" | "Disconnected" | "Terminated";
  bytesIn: number;
  bytesOut: number;
  openStreams: number;
  mode?: "mux" | "basic";
  /** What the agent announced (port sessions and KMS shells) or would have. */
  agentVersion: string;
  /** From the OpenDataChannelInput, once a client connected. */
  clientVersion?: string;
}

export interface DataPlaneOptions {
  /** ws://127.0.0.1:<port> of the gateway that forwards upgrades to handleUpgrade. */
  publicUrl: string;
  /** Maps the host/port a session asks for to what is really dialled (Aurora endpoint → local PostgreSQL). */
  resolveHost?: (host: string, port: number) => { host: string; port: number };
  /** AgentVersion announced in HandshakeRequest. Default "3.3.1142.0". */
  agentVersion?: string;
  faults?: DataChannelFaults;
  /** Called when a session ends on its own (shell exit, TerminateSession flag, give-up). */
  onSessionEnded?: (sessionId: string, reason: string) => void;
  /** KMS Decrypt for KMS shell sessions: given the CiphertextBlob and context, return the 64-byte plaintext. */
  kmsDecrypt?: (ciphertext: Buffer, context: Record<string, string>) => Promise<Buffer>;
}

export interface DataPlane {
  /** Registers a session; returns the StreamUrl and TokenValue to hand to the client. */
  openSession(spec: SessionSpec): { streamUrl: string; tokenValue: string };
  /** A fresh token/StreamUrl for a live session, or undefined when it is gone (ResumeSession). */
  resumeSession(sessionId: string): { streamUrl: string; tokenValue: string } | undefined;
  /** Ends a session: channel_closed to the client, target connections and ptys closed. */
  terminateSession(sessionId: string, reason?: string): void;
  /** To be called from the gateway's HTTP server 'upgrade' event for paths under /v1/data-channel/. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  setFaults(faults: DataChannelFaults): void;
  sessions(): SessionState[];
  /** The data-channel faults injected since the plane started, by kind. */
  injected?(): DataChannelTally;
  close(): Promise<void>;
}

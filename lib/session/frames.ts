// The Session Manager data-channel binary frame (ClientMessage / AgentMessage) and the small
// payloads carried in it. Layout: docs/session-protocol.md §2.2, from
// aws/session-manager-plugin src/message/clientmessage.go and messageparser.go.
import { createHash, randomUUID } from "node:crypto";

/** Offset of PayloadLength; the payload starts at HEADER_LENGTH + 4. */
export const HEADER_LENGTH = 116;
export const PAYLOAD_OFFSET = HEADER_LENGTH + 4;

const OFF_TYPE = 4;
const TYPE_LEN = 32;
const OFF_SCHEMA = 36;
const OFF_CREATED = 40;
const OFF_SEQ = 48;
const OFF_FLAGS = 56;
const OFF_ID = 64;
const OFF_DIGEST = 80;
const OFF_PAYLOAD_TYPE = 112;
const TWO_32 = 2 ** 32;

export const MessageType = {
  InputStreamData: "input_stream_data",
  OutputStreamData: "output_stream_data",
  Acknowledge: "acknowledge",
  ChannelClosed: "channel_closed",
  StartPublication: "start_publication",
  PausePublication: "pause_publication",
} as const;

export const PayloadType = {
  Output: 1,
  Error: 2,
  Size: 3,
  Parameter: 4,
  HandshakeRequest: 5,
  HandshakeResponse: 6,
  HandshakeComplete: 7,
  EncChallengeRequest: 8,
  EncChallengeResponse: 9,
  Flag: 10,
  StdErr: 11,
  ExitCode: 12,
} as const;

/** Values of a Flag (10) payload, a uint32 BE. */
export const PortFlag = { DisconnectToPort: 1, TerminateSession: 2, ConnectToPortError: 3 } as const;

/** Flags=3 on acks; the agent sets 1 on its seq-0 data message (§2.5). Nobody checks them. */
export const ACK_FLAGS = 3;

export interface Frame {
  messageType: string;
  schemaVersion: number;
  /** epoch ms */
  createdDate: number;
  sequenceNumber: number;
  flags: number;
  /** canonical lowercase UUID string */
  messageId: string;
  payloadType: number;
  /** A view into the decoded buffer, not a copy. */
  payload: Buffer;
}

export type FrameInit = Partial<Omit<Frame, "messageType" | "payload">> & {
  messageType: string;
  payload?: Buffer;
};

export class FrameError extends Error {}

function writeUint64(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_32) >>> 0, offset);
  buf.writeUInt32BE(value >>> 0, offset + 4);
}

function readUint64(buf: Buffer, offset: number): number {
  return buf.readUInt32BE(offset) * TWO_32 + buf.readUInt32BE(offset + 4);
}

function readInt64(buf: Buffer, offset: number): number {
  return buf.readInt32BE(offset) * TWO_32 + buf.readUInt32BE(offset + 4);
}

/** The wire stores a UUID as "least significant 8 bytes, then most significant 8 bytes" (§2.2). */
export function writeMessageId(buf: Buffer, offset: number, uuid: string): void {
  const hex = uuid.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new FrameError(`Invalid MessageId ${JSON.stringify(uuid)}`);
  buf.write(hex.slice(16), offset, 8, "hex");
  buf.write(hex.slice(0, 16), offset + 8, 8, "hex");
}

export function readMessageId(buf: Buffer, offset: number): string {
  const hex = buf.toString("hex", offset + 8, offset + 16) + buf.toString("hex", offset, offset + 8);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function encodeFrame(init: FrameInit): Buffer {
  const payload = init.payload ?? Buffer.alloc(0);
  const buf = Buffer.allocUnsafe(PAYLOAD_OFFSET + payload.length);
  buf.writeUInt32BE(HEADER_LENGTH, 0);
  const typeLen = buf.write(init.messageType, OFF_TYPE, TYPE_LEN, "latin1");
  buf.fill(0x20, OFF_TYPE + typeLen, OFF_TYPE + TYPE_LEN);
  buf.writeUInt32BE(init.schemaVersion ?? 1, OFF_SCHEMA);
  writeUint64(buf, OFF_CREATED, init.createdDate ?? Date.now());
  const seq = init.sequenceNumber ?? 0;
  buf.writeInt32BE(Math.floor(seq / TWO_32), OFF_SEQ);
  buf.writeUInt32BE(seq >>> 0, OFF_SEQ + 4);
  writeUint64(buf, OFF_FLAGS, init.flags ?? 0);
  writeMessageId(buf, OFF_ID, init.messageId ?? randomUUID());
  createHash("sha256").update(payload).digest().copy(buf, OFF_DIGEST);
  buf.writeUInt32BE(init.payloadType ?? 0, OFF_PAYLOAD_TYPE);
  buf.writeUInt32BE(payload.length, HEADER_LENGTH);
  payload.copy(buf, PAYLOAD_OFFSET);
  return buf;
}

/** Whether a raw frame is stream data (input or output), read from its header without decoding it. */
export function isStreamDataFrame(buf: Buffer): boolean {
  if (buf.length < OFF_TYPE + TYPE_LEN) return false;
  const type = buf.toString("latin1", OFF_TYPE, OFF_TYPE + 19).replace(/[\s\0]+$/, "");
  return type === MessageType.InputStreamData || type === MessageType.OutputStreamData;
}

/**
 * Decodes and validates as the plugin does (messageparser.go Validate): HeaderLength, MessageType
 * and CreatedDate non-zero, SHA-256 digest when PayloadLength≠0 — except for start/pause_publication.
 */
export function decodeFrame(buf: Buffer): Frame {
  if (buf.length < PAYLOAD_OFFSET) throw new FrameError(`Frame too short: ${buf.length} bytes`);
  const headerLength = buf.readUInt32BE(0);
  if (headerLength === 0) throw new FrameError("HeaderLength is 0");
  if (buf.length < headerLength + 4) throw new FrameError(`Frame shorter than its HeaderLength ${headerLength}`);
  const messageType = buf.toString("latin1", OFF_TYPE, OFF_TYPE + TYPE_LEN).replace(/[\s\0]+$/, "");
  const frame: Frame = {
    messageType,
    schemaVersion: buf.readUInt32BE(OFF_SCHEMA),
    createdDate: readUint64(buf, OFF_CREATED),
    sequenceNumber: readInt64(buf, OFF_SEQ),
    flags: readUint64(buf, OFF_FLAGS),
    messageId: readMessageId(buf, OFF_ID),
    payloadType: buf.readUInt32BE(OFF_PAYLOAD_TYPE),
    // Readers slice input[HeaderLength+4:], not by PayloadLength (§2.2).
    payload: buf.subarray(headerLength + 4),
  };
  if (messageType === MessageType.StartPublication || messageType === MessageType.PausePublication) return frame;
  if (messageType === "") throw new FrameError("MessageType is empty");
  if (frame.createdDate === 0) throw new FrameError(`CreatedDate is 0 in ${messageType}`);
  const payloadLength = buf.readUInt32BE(HEADER_LENGTH);
  if (payloadLength !== 0) {
    const digest = createHash("sha256").update(frame.payload).digest();
    if (!digest.equals(buf.subarray(OFF_DIGEST, OFF_DIGEST + 32))) {
      throw new FrameError(`PayloadDigest mismatch in ${messageType} seq ${frame.sequenceNumber}`);
    }
  }
  return frame;
}

// --- acknowledge ---------------------------------------------------------------------------

export interface AckPayload {
  AcknowledgedMessageType: string;
  AcknowledgedMessageId: string;
  AcknowledgedMessageSequenceNumber: number;
  IsSequentialMessage: boolean;
}

export function buildAckPayload(acked: Pick<Frame, "messageType" | "messageId" | "sequenceNumber">): Buffer {
  const body: AckPayload = {
    AcknowledgedMessageType: acked.messageType,
    AcknowledgedMessageId: acked.messageId,
    AcknowledgedMessageSequenceNumber: acked.sequenceNumber,
    IsSequentialMessage: true,
  };
  return Buffer.from(JSON.stringify(body));
}

/** The whole `acknowledge` frame for a received stream-data message (SchemaVersion 1, seq 0, Flags 3). */
export function encodeAck(acked: Pick<Frame, "messageType" | "messageId" | "sequenceNumber">): Buffer {
  return encodeFrame({
    messageType: MessageType.Acknowledge,
    sequenceNumber: 0,
    flags: ACK_FLAGS,
    payloadType: 0,
    payload: buildAckPayload(acked),
  });
}

export function parseAckPayload(payload: Buffer): AckPayload {
  const body = JSON.parse(payload.toString("utf8")) as Partial<AckPayload>;
  if (typeof body.AcknowledgedMessageSequenceNumber !== "number") {
    throw new FrameError(`acknowledge without AcknowledgedMessageSequenceNumber: ${payload.toString("utf8")}`);
  }
  return {
    AcknowledgedMessageType: body.AcknowledgedMessageType ?? "",
    AcknowledgedMessageId: body.AcknowledgedMessageId ?? "",
    AcknowledgedMessageSequenceNumber: body.AcknowledgedMessageSequenceNumber,
    IsSequentialMessage: body.IsSequentialMessage ?? true,
  };
}

// --- channel_closed ------------------------------------------------------------------------

export interface ChannelClosedPayload {
  MessageId: string;
  CreatedDate: string;
  DestinationId: string;
  SessionId: string;
  MessageType: "channel_closed";
  SchemaVersion: number;
  Output: string;
}

export function buildChannelClosedPayload(sessionId: string, output: string, now = new Date()): Buffer {
  const body: ChannelClosedPayload = {
    MessageId: randomUUID(),
    CreatedDate: now.toISOString(),
    DestinationId: sessionId,
    SessionId: sessionId,
    MessageType: "channel_closed",
    SchemaVersion: 1,
    Output: output,
  };
  return Buffer.from(JSON.stringify(body));
}

export function parseChannelClosed(payload: Buffer): { sessionId: string; output: string } {
  const body = JSON.parse(payload.toString("utf8")) as Partial<ChannelClosedPayload>;
  return { sessionId: body.SessionId ?? "", output: body.Output ?? "" };
}

// --- flags ---------------------------------------------------------------------------------

export function buildFlagPayload(flag: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(flag, 0);
  return buf;
}

export function parseFlagPayload(payload: Buffer): number {
  if (payload.length < 4) throw new FrameError(`Flag payload of ${payload.length} bytes`);
  return payload.readUInt32BE(0);
}

// --- handshake (§3) ------------------------------------------------------------------------

export type PortProperties = {
  portNumber: string;
  type?: string;
  localPortNumber?: string;
  host?: string;
};

export type RequestedClientAction =
  | { ActionType: "SessionType"; ActionParameters: { SessionType: string; Properties: unknown } }
  | { ActionType: "KMSEncryption"; ActionParameters: { KMSKeyId: string; Challenge?: string } };

export interface HandshakeRequest {
  AgentVersion: string;
  RequestedClientActions: RequestedClientAction[];
}

/** ActionStatus values: 1 Success, 2 Failed, 3 Unsupported. */
export const ActionStatus = { Success: 1, Failed: 2, Unsupported: 3 } as const;

export interface ProcessedClientAction {
  ActionType: string;
  ActionStatus: number;
  ActionResult: unknown;
  Error: string;
}

export interface HandshakeResponse {
  ClientVersion: string;
  ProcessedClientActions: ProcessedClientAction[];
  Errors: string[] | null;
}

export interface HandshakeComplete {
  /** nanoseconds */
  HandshakeTimeToComplete: number;
  CustomerMessage: string;
}

export interface EncChallenge {
  Challenge: string;
}

/** Size (3) payload, client→agent. */
export interface SizePayload {
  cols: number;
  rows: number;
}

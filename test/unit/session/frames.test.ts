import { describe, expect, it } from "vitest";
import {
  buildChannelClosedPayload,
  buildFlagPayload,
  decodeFrame,
  encodeAck,
  encodeFrame,
  FrameError,
  HEADER_LENGTH,
  MessageType,
  parseAckPayload,
  parseChannelClosed,
  parseFlagPayload,
  PayloadType,
  PortFlag,
} from "../../../lib/session/frames.ts";

// Built field by field from docs/session-protocol.md §2.2, not by our encoder.
const SPACES = (n: number) => "20".repeat(n);
const golden = Buffer.from(
  [
    "00000074", // HeaderLength 116
    "696e7075745f73747265616d5f64617461" + SPACES(32 - 17), // "input_stream_data", space-padded
    "00000001", // SchemaVersion
    "0000018bcfe5687b", // CreatedDate 1700000000123 ms
    "0000000000000007", // SequenceNumber 7
    "0000000000000000", // Flags
    "8899aabbccddeeff" + "0011223344556677", // MessageId 00112233-4455-6677-8899-aabbccddeeff, halves swapped
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", // sha256("hello")
    "00000001", // PayloadType Output
    "00000005", // PayloadLength
    Buffer.from("hello").toString("hex"),
  ].join(""),
  "hex",
);

describe("frame codec", () => {
  it("encodes the exact bytes of the reference layout", () => {
    const encoded = encodeFrame({
      messageType: MessageType.InputStreamData,
      schemaVersion: 1,
      createdDate: 1700000000123,
      sequenceNumber: 7,
      flags: 0,
      messageId: "00112233-4455-6677-8899-aabbccddeeff",
      payloadType: PayloadType.Output,
      payload: Buffer.from("hello"),
    });
    expect(encoded.length).toBe(125);
    expect(encoded.toString("hex")).toBe(golden.toString("hex"));
  });

  it("decodes the hand-built bytes", () => {
    const frame = decodeFrame(golden);
    expect(frame).toEqual({
      messageType: "input_stream_data",
      schemaVersion: 1,
      createdDate: 1700000000123,
      sequenceNumber: 7,
      flags: 0,
      messageId: "00112233-4455-6677-8899-aabbccddeeff",
      payloadType: 1,
      payload: Buffer.from("hello"),
    });
  });

  it("decodes a payload as a view, without copying", () => {
    const frame = decodeFrame(golden);
    expect(frame.payload.buffer).toBe(golden.buffer);
    expect(frame.payload.byteOffset).toBe(golden.byteOffset + HEADER_LENGTH + 4);
  });

  it("trims NUL padding as readers do", () => {
    const nulPadded = Buffer.from(golden);
    nulPadded.fill(0, 4 + 17, 36);
    expect(decodeFrame(nulPadded).messageType).toBe("input_stream_data");
  });

  it("slices the payload at HeaderLength+4, not by PayloadLength", () => {
    const lying = Buffer.from(golden);
    lying.writeUInt32BE(3, 116);
    expect(decodeFrame(lying).payload.toString()).toBe("hello");
  });

  it("rejects a wrong digest, a zero CreatedDate, a zero HeaderLength and a short frame", () => {
    const badDigest = Buffer.from(golden);
    badDigest[80] ^= 1;
    expect(() => decodeFrame(badDigest)).toThrow(/PayloadDigest mismatch/);
    const noDate = Buffer.from(golden);
    noDate.fill(0, 40, 48);
    expect(() => decodeFrame(noDate)).toThrow(/CreatedDate is 0/);
    const noHeader = Buffer.from(golden);
    noHeader.writeUInt32BE(0, 0);
    expect(() => decodeFrame(noHeader)).toThrow(/HeaderLength is 0/);
    expect(() => decodeFrame(golden.subarray(0, 100))).toThrow(FrameError);
  });

  it("skips validation for start_publication and pause_publication", () => {
    const pub = Buffer.from(golden);
    pub.fill(0x20, 4, 36);
    pub.write("start_publication", 4, "latin1");
    pub.fill(0, 40, 48); // CreatedDate 0
    pub[80] ^= 1; // wrong digest
    expect(decodeFrame(pub).messageType).toBe("start_publication");
  });

  it("does not check the digest of an empty payload", () => {
    const empty = Buffer.concat([golden.subarray(0, 120)]);
    empty.writeUInt32BE(0, 116);
    expect(decodeFrame(empty).payload.length).toBe(0);
  });

  it("round-trips large sequence numbers and flags", () => {
    const big = 2 ** 40 + 5;
    const frame = decodeFrame(encodeFrame({ messageType: "output_stream_data", sequenceNumber: big, flags: 2 ** 33 + 1 }));
    expect(frame.sequenceNumber).toBe(big);
    expect(frame.flags).toBe(2 ** 33 + 1);
  });
});

describe("acknowledge", () => {
  it("builds the ack frame of §2.5: seq 0, Flags 3, PayloadType 0, exact JSON", () => {
    const ack = encodeAck({
      messageType: "output_stream_data",
      messageId: "00112233-4455-6677-8899-aabbccddeeff",
      sequenceNumber: 42,
    });
    expect(ack.toString("latin1", 4, 36)).toBe("acknowledge" + " ".repeat(21));
    expect(ack.toString("hex", 48, 64)).toBe("0000000000000000" + "0000000000000003");
    expect(ack.readUInt32BE(112)).toBe(0);
    const json =
      '{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"00112233-4455-6677-8899-aabbccddeeff",' +
      '"AcknowledgedMessageSequenceNumber":42,"IsSequentialMessage":true}';
    expect(ack.subarray(120).toString()).toBe(json);
    expect(ack.readUInt32BE(116)).toBe(json.length);
    expect(parseAckPayload(decodeFrame(ack).payload).AcknowledgedMessageSequenceNumber).toBe(42);
  });

  it("rejects an ack without a sequence number", () => {
    expect(() => parseAckPayload(Buffer.from('{"AcknowledgedMessageId":"x"}'))).toThrow(FrameError);
  });
});

describe("small payloads", () => {
  it("flags are uint32 big-endian", () => {
    expect(buildFlagPayload(PortFlag.ConnectToPortError).toString("hex")).toBe("00000003");
    expect(parseFlagPayload(Buffer.from("00000002", "hex"))).toBe(PortFlag.TerminateSession);
  });

  it("channel_closed carries SessionId and Output", () => {
    const payload = buildChannelClosedPayload("s-1", "bye", new Date(0));
    const body = JSON.parse(payload.toString());
    expect(body).toMatchObject({ SessionId: "s-1", DestinationId: "s-1", MessageType: "channel_closed", SchemaVersion: 1, Output: "bye" });
    expect(parseChannelClosed(payload)).toEqual({ sessionId: "s-1", output: "bye" });
  });
});

// KMS session encryption (docs/session-protocol.md §3 "KMS in outline"; plugin
// src/encryption/*, agent agent/session/crypto/blockcipher.go): a 64-byte data key whose first
// half the agent encrypts with and whose second half the client encrypts with; AES-256-GCM,
// wire = 12-byte nonce ‖ ciphertext ‖ 16-byte tag, no AAD.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface SessionKeys {
  /** plaintext[0:32]: agent → client */
  agentKey: Buffer;
  /** plaintext[32:64]: client → agent */
  clientKey: Buffer;
}

export function splitDataKey(plaintext: Buffer): SessionKeys {
  if (plaintext.length !== 64) throw new Error(`KMS data key of ${plaintext.length} bytes, expected 64`);
  return { agentKey: plaintext.subarray(0, 32), clientKey: plaintext.subarray(32, 64) };
}

export function encryptGcm(key: Buffer, plaintext: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

export function decryptGcm(key: Buffer, wire: Buffer): Buffer {
  if (wire.length < NONCE_BYTES + TAG_BYTES) throw new Error(`encrypted payload of ${wire.length} bytes is too short`);
  const decipher = createDecipheriv("aes-256-gcm", key, wire.subarray(0, NONCE_BYTES));
  decipher.setAuthTag(wire.subarray(wire.length - TAG_BYTES));
  return Buffer.concat([decipher.update(wire.subarray(NONCE_BYTES, wire.length - TAG_BYTES)), decipher.final()]);
}

/** The EncryptionContext the agent passes to kms:Decrypt. */
export function kmsContext(sessionId: string, target: string, challenge?: string): Record<string, string> {
  const context: Record<string, string> = { "aws:ssm:SessionId": sessionId, "aws:ssm:TargetId": target };
  if (challenge !== undefined) context["aws:ssm:RandomChallenge"] = challenge;
  return context;
}

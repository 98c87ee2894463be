// KMS session encryption, the client's side (docs/session-protocol.md §3): a 64-byte data key
// from kms:GenerateDataKey; the agent encrypts with bytes 0–32 and we with bytes 32–64; AES-256-GCM,
// wire = 12-byte nonce ‖ ciphertext ‖ 16-byte tag, no AAD.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface SessionCipher {
  /** What we send (type 1 payloads, the challenge answer). */
  encrypt(plaintext: Buffer): Buffer;
  /** What the agent sent (types 1, 11, 12, the challenge). */
  decrypt(wire: Buffer): Buffer;
}

export function createSessionCipher(dataKey: Buffer): SessionCipher {
  if (dataKey.length !== 64) throw new Error(`the KMS data key has ${dataKey.length} bytes; Session Manager uses 64`);
  const agentKey = Buffer.from(dataKey.subarray(0, 32));
  const clientKey = Buffer.from(dataKey.subarray(32, 64));
  return {
    encrypt(plaintext) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv("aes-256-gcm", clientKey, nonce);
      return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    },
    decrypt(wire) {
      if (wire.length < NONCE_BYTES + TAG_BYTES) throw new Error(`an encrypted payload of ${wire.length} bytes is too short`);
      const decipher = createDecipheriv("aes-256-gcm", agentKey, wire.subarray(0, NONCE_BYTES));
      decipher.setAuthTag(wire.subarray(wire.length - TAG_BYTES));
      return Buffer.concat([decipher.update(wire.subarray(NONCE_BYTES, wire.length - TAG_BYTES)), decipher.final()]);
    },
  };
}

// Identifier shapes as AWS issues them.
import { randomBytes, randomInt } from "node:crypto";

export const ACCOUNT_ID = "123456789012";

export function hex(n: number): string {
  return randomBytes(Math.ceil(n / 2))
    .toString("hex")
    .slice(0, n);
}

/** Managed (hybrid) instance id: "mi-" + 17 hex characters. */
export function newManagedInstanceId(): string {
  return `mi-${hex(17)}`;
}

/** Activation codes are 20 characters of base64-ish alphabet. */
export function newActivationCode(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let s = "";
  for (let i = 0; i < 20; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}

/** Session ids are "<caller name>-<17 hex>"; our dummy caller is "localcloud". */
export function newSessionId(): string {
  return `localcloud-${hex(17)}`;
}

/** Fargate runtime ids look like "<taskId>-<10 digits>". */
export function newRuntimeId(taskId: string): string {
  return `${taskId}-${String(randomInt(1_000_000_000, 9_999_999_999))}`;
}

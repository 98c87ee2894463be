// Every secret the local cloud hands out (activation codes, session tokens, KMS data keys,
// credentials moto issues through the gateway), so the test run can prove none of them reaches a
// program's output or log files (test/support/secret-scan.ts). With LOCALCLOUD_SECRETS_FILE set,
// each one is also appended to that file as a JSON line: clouds run in several processes.
import { appendFileSync } from "node:fs";

export type SecretKind = "activation-code" | "session-token" | "kms-data-key" | "secret-access-key" | "credentials-session-token";

export interface IssuedSecret {
  kind: SecretKind;
  /** Text as issued; binary secrets (data keys) in base64. */
  value: string;
  /** The operation that issued it: "ssm:CreateActivation". */
  issuedBy: string;
}

export interface SecretLog {
  record(kind: SecretKind, value: string | undefined, issuedBy: string): void;
  list(): IssuedSecret[];
}

export const SECRETS_FILE_ENV = "LOCALCLOUD_SECRETS_FILE";

export function createSecretLog(file: string | undefined = process.env[SECRETS_FILE_ENV]): SecretLog {
  const issued: IssuedSecret[] = [];
  return {
    record(kind, value, issuedBy) {
      if (!value) return;
      const secret = { kind, value, issuedBy };
      issued.push(secret);
      if (file) appendFileSync(file, JSON.stringify(secret) + "\n", { mode: 0o600 });
    },
    list: () => [...issued],
  };
}

const XML_SECRETS: Array<[RegExp, SecretKind]> = [
  [/<SecretAccessKey>([^<]+)<\/SecretAccessKey>/g, "secret-access-key"],
  [/<SessionToken>([^<]+)<\/SessionToken>/g, "credentials-session-token"],
];

/** Secrets in an answer moto gave through the gateway: kms Plaintext, STS/IAM credentials. */
export function recordRelayedSecrets(log: SecretLog, service: string, operation: string, status: number, body: Buffer): void {
  if (status >= 400 || !body.length) return;
  const issuedBy = `${service}:${operation}`;
  if (service === "kms" && /^(GenerateDataKey|GenerateDataKeyPair|Decrypt)$/.test(operation)) {
    try {
      log.record("kms-data-key", (JSON.parse(body.toString("utf8")) as { Plaintext?: string }).Plaintext, issuedBy);
    } catch {
      /* not JSON: nothing issued */
    }
  }
  if (service === "sts" || service === "iam") {
    const text = body.toString("utf8");
    for (const [pattern, kind] of XML_SECRETS) for (const m of text.matchAll(pattern)) log.record(kind, m[1], issuedBy);
  }
}

// The local audit log of exec: one JSON object per line in $XDG_STATE_HOME/bastionless/audit.jsonl
// (mode 0600). "exec.start" is written before ExecuteCommand is called — who, when, where, what —
// then "exec.session" with the session id and "exec.end" with the outcome, all under one auditId.
// Nothing secret goes in: no token, no credential. Fields are redacted before serializing; the
// command line is recorded as given (only secrets this run registered are masked in it), with the
// sha256 of the raw command beside it so that a record can be matched with CloudTrail's.
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import type { ClusterInfo } from "../aws/ecs.ts";
import { stateDir } from "../local.ts";
import { openPrivateLog, redact, redactKnownSecrets } from "../log.ts";

export function auditLogPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), "audit.jsonl");
}

export function newAuditId(): string {
  return randomBytes(6).toString("hex");
}

export interface AuditStart {
  auditId: string;
  /** The local login and the AWS identity (ARN) when known. */
  user: string;
  awsIdentity?: string;
  env?: string;
  profile?: string;
  region: string;
  cluster: string;
  task: string;
  container: string;
  /** As the user gave it. */
  command: string;
  /** As ECS Exec receives it (see command.ts wrapCommand). */
  sentCommand: string;
  client: string;
  /** Where the cluster's session transcript will be, when it keeps one. */
  transcript?: string;
}

export type AuditRecord =
  | ({ event: "exec.start" } & AuditStart)
  | { event: "exec.session"; auditId: string; sessionId: string; client: string }
  | { event: "exec.end"; auditId: string; sessionId?: string; exitCode: number; error?: string; endedBy?: string };

export interface AuditLog {
  path: string;
  write(record: AuditRecord): void;
  close(): void;
}

/** Opens (creating with 0700/0600) the audit log; each write is one synchronous append. */
export function openAuditLog(path: string = auditLogPath(), now: () => Date = () => new Date()): AuditLog {
  const file = openPrivateLog(path);
  return {
    path,
    write: (record) => file.write(auditLine(record, now()) + "\n"),
    close: () => file.close(),
  };
}

const COMMAND_FIELDS = new Set(["command", "sentCommand"]);

/**
 * One record as its JSON line. Every field but the command lines goes through redaction; in
 * `command` and `sentCommand` only registered secrets are masked (a pattern would rewrite what was
 * run), and `commandSha256` / `sentCommandSha256` hash them as they were.
 */
export function auditLine(record: AuditRecord, time: Date): string {
  const out: Record<string, unknown> = { time: time.toISOString() };
  for (const [key, value] of Object.entries(record)) {
    if (COMMAND_FIELDS.has(key) && typeof value === "string") {
      out[key] = redactKnownSecrets(value);
      out[`${key}Sha256`] = sha256(value);
    } else {
      out[key] = redact(value);
    }
  }
  return JSON.stringify(out);
}

export function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * Where ECS Exec will keep the session's transcript, or undefined when it keeps none. The log
 * stream / object is named after the session id, known once ExecuteCommand answers.
 */
export function transcriptLocation(
  cluster: ClusterInfo,
  region: string,
  containerAwslogsGroup: string | undefined,
  sessionId = "<session id>",
): string | undefined {
  const logging = cluster.execLogging ?? "DEFAULT";
  if (logging === "NONE") return undefined;
  const group = logging === "OVERRIDE" ? cluster.execLogGroup : containerAwslogsGroup;
  const parts: string[] = [];
  if (group) parts.push(`CloudWatch Logs ${region} group ${group}, stream ${sessionId}`);
  if (logging === "OVERRIDE" && cluster.execS3Bucket)
    parts.push(`S3 bucket ${cluster.execS3Bucket}, object ${sessionId}.log (under the cluster's s3KeyPrefix, if any)`);
  return parts.length ? parts.join("; ") : undefined;
}

// The local audit log of exec: one JSON object per line in $XDG_STATE_HOME/bastionless/audit.jsonl
// (mode 0600). "exec.start" is written before ExecuteCommand is called — who, when, where, what —
// then "exec.session" with the session id and "exec.end" with the outcome, all under one auditId.
// Nothing secret goes in: no token, no credential; the command line passes through redaction.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { ClusterInfo } from "../aws/ecs.ts";
import { stateDir } from "../local.ts";
import { openPrivateLog } from "../log.ts";

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
  | { event: "exec.end"; auditId: string; sessionId?: string; exitCode: number; error?: string };

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
    write: (record) => file.write(JSON.stringify({ time: now().toISOString(), ...record }) + "\n"),
    close: () => file.close(),
  };
}

/**
 * Where ECS Exec will keep the session's transcript, or undefined when it keeps none. The log
 * stream / object is named after the session id, known once ExecuteCommand answers.
 */
export function transcriptLocation(cluster: ClusterInfo, region: string, containerAwslogsGroup: string | undefined, sessionId = "<session id>"): string | undefined {
  const logging = cluster.execLogging ?? "DEFAULT";
  if (logging === "NONE") return undefined;
  const group = logging === "OVERRIDE" ? cluster.execLogGroup : containerAwslogsGroup;
  const parts: string[] = [];
  if (group) parts.push(`CloudWatch Logs ${region} group ${group}, stream ${sessionId}`);
  if (logging === "OVERRIDE" && cluster.execS3Bucket) parts.push(`S3 bucket ${cluster.execS3Bucket}, object ${sessionId}.log (under the cluster's s3KeyPrefix, if any)`);
  return parts.length ? parts.join("; ") : undefined;
}

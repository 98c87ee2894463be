import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditLogPath, openAuditLog, transcriptLocation } from "../../../lib/exec/audit.ts";
import { registerSecret } from "../../../lib/log.ts";
import type { ClusterInfo } from "../../../lib/aws/ecs.ts";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("audit log", () => {
  it("lives under XDG_STATE_HOME, else ~/.local/state (a relative XDG_STATE_HOME is ignored, per the spec)", () => {
    expect(auditLogPath({ XDG_STATE_HOME: "/s", HOME: "/h" })).toBe("/s/bastionless/audit.jsonl");
    expect(auditLogPath({ XDG_STATE_HOME: "rel", HOME: "/h" })).toBe("/h/.local/state/bastionless/audit.jsonl");
    expect(auditLogPath({ HOME: "/h" })).toBe("/h/.local/state/bastionless/audit.jsonl");
  });
  it("appends one JSON line per record, 0600 in a 0700 dir, with known secrets masked", () => {
    const dir = mkdtempSync(join(tmpdir(), "audit-"));
    dirs.push(dir);
    const path = join(dir, "state", "bastionless", "audit.jsonl");
    registerSecret("hunter2-password-value");
    const log = openAuditLog(path, () => new Date("2026-01-01T00:00:00Z"));
    log.write({ event: "exec.session", auditId: "a1", sessionId: "s-1", client: "native" });
    log.write({ event: "exec.end", auditId: "a1", exitCode: 1, error: "mysql -phunter2-password-value failed" });
    log.close();
    expect(readFileSync(path, "utf8")).toBe(
      '{"time":"2026-01-01T00:00:00.000Z","event":"exec.session","auditId":"a1","sessionId":"s-1","client":"native"}\n' +
        '{"time":"2026-01-01T00:00:00.000Z","event":"exec.end","auditId":"a1","exitCode":1,"error":"mysql -p*** failed"}\n',
    );
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "state", "bastionless")).mode & 0o777).toBe(0o700);
  });
});

describe("transcriptLocation", () => {
  const cluster = (c: Partial<ClusterInfo>): ClusterInfo => ({ name: "stg-main", arn: "arn", status: "ACTIVE", ...c });
  it("names the CloudWatch stream and S3 object after the session", () => {
    expect(transcriptLocation(cluster({ execLogging: "OVERRIDE", execLogGroup: "/ecs/exec", execS3Bucket: "audit" }), "ap-northeast-1", "ignored", "ecs-execute-command-1")).toBe(
      "CloudWatch Logs ap-northeast-1 group /ecs/exec, stream ecs-execute-command-1; S3 bucket audit, object ecs-execute-command-1.log (under the cluster's s3KeyPrefix, if any)",
    );
    expect(transcriptLocation(cluster({}), "eu-west-1", "/ecs/app")).toBe("CloudWatch Logs eu-west-1 group /ecs/app, stream <session id>");
  });
  it("is undefined when nothing is kept", () => {
    expect(transcriptLocation(cluster({ execLogging: "NONE" }), "r", "/ecs/app")).toBeUndefined();
    expect(transcriptLocation(cluster({ execLogging: "DEFAULT" }), "r", undefined)).toBeUndefined();
  });
});

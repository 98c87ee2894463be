import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { auditLine, auditLogPath, openAuditLog, transcriptLocation } from "../../../lib/exec/audit.ts";
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

describe("audit records keep the command as it was run", () => {
  const start = (command: string) => ({
    event: "exec.start" as const,
    auditId: "a2",
    user: "alice",
    region: "eu-west-1",
    cluster: "stg-main",
    task: "arn:aws:ecs:eu-west-1:1:task/stg-main/t",
    container: "app",
    command,
    sentCommand: `/bin/sh -c '${command}'`,
    client: "native",
  });
  const hash = (text: string) => createHash("sha256").update(text).digest("hex");

  it("a 40-character base64 run and an Authorization header in a command stay as typed, the line stays JSON, with the raw command's sha256", () => {
    const commands = [
      "echo aWQgPiAvdG1wL0hJRERFTl9BVURJVF8wMDAwMDAx | base64 -d | sh; cat /tmp/x",
      'echo "Authorization: AWS4-HMAC-SHA256 x"; rm -f /tmp/evidence',
      "go vet -code 1 ./...",
    ];
    const dir = mkdtempSync(join(tmpdir(), "audit-"));
    dirs.push(dir);
    const log = openAuditLog(join(dir, "audit.jsonl"), () => new Date("2026-01-01T00:00:00Z"));
    for (const command of commands) log.write(start(command));
    log.close();
    const lines = readFileSync(join(dir, "audit.jsonl"), "utf8").trim().split("\n");
    expect(lines).toHaveLength(commands.length);
    for (const [i, command] of commands.entries()) {
      const line = lines[i];
      expect(JSON.parse(line)).toEqual({
        time: "2026-01-01T00:00:00.000Z",
        ...start(command),
        commandSha256: hash(command),
        sentCommandSha256: hash(`/bin/sh -c '${command}'`),
      });
      expect(Object.keys(JSON.parse(line))).toEqual([
        "time",
        "event",
        "auditId",
        "user",
        "region",
        "cluster",
        "task",
        "container",
        "command",
        "commandSha256",
        "sentCommand",
        "sentCommandSha256",
        "client",
      ]);
    }
  });

  it("masks a registered secret in the command (its sha256 is of the raw command) and every secret shape in the other fields", () => {
    const secret = "registered-Secret-0123456789";
    registerSecret(secret);
    const command = `curl -H 'X-Key: ${secret}' http://app/health`;
    const record = JSON.parse(auditLine(start(command), new Date(0)));
    expect(record.command).toBe("curl -H 'X-Key: ***' http://app/health");
    expect(record.sentCommand).toBe("/bin/sh -c 'curl -H 'X-Key: ***' http://app/health'");
    expect(record.commandSha256).toBe(hash(command));
    const end = JSON.parse(
      auditLine({ event: "exec.end", auditId: "a2", exitCode: 1, error: "psql postgres://app:S3cr3tPassw0rd@db/app failed" }, new Date(0)),
    );
    expect(end.error).toBe("psql postgres://app:***@db/app failed");
  });
});

describe("transcriptLocation", () => {
  const cluster = (c: Partial<ClusterInfo>): ClusterInfo => ({ name: "stg-main", arn: "arn", status: "ACTIVE", ...c });
  it("names the CloudWatch stream and S3 object after the session", () => {
    expect(
      transcriptLocation(
        cluster({ execLogging: "OVERRIDE", execLogGroup: "/ecs/exec", execS3Bucket: "audit" }),
        "ap-northeast-1",
        "ignored",
        "ecs-execute-command-1",
      ),
    ).toBe(
      "CloudWatch Logs ap-northeast-1 group /ecs/exec, stream ecs-execute-command-1; S3 bucket audit, object ecs-execute-command-1.log (under the cluster's s3KeyPrefix, if any)",
    );
    expect(transcriptLocation(cluster({}), "eu-west-1", "/ecs/app")).toBe("CloudWatch Logs eu-west-1 group /ecs/app, stream <session id>");
  });
  it("is undefined when nothing is kept", () => {
    expect(transcriptLocation(cluster({ execLogging: "NONE" }), "r", "/ecs/app")).toBeUndefined();
    expect(transcriptLocation(cluster({ execLogging: "DEFAULT" }), "r", undefined)).toBeUndefined();
  });
});

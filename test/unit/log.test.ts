import { describe, expect, it } from "vitest";
import { createLogger, findSecretShape, redact, redactText, registerSecret, openPrivateLog } from "../../lib/log.ts";
import { mkdtempSync, readFileSync, statSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Shapes of real secrets: an activation code (20 chars), an STS session token, a secret access key.
const ACTIVATION_CODE = "Fjz3/sZfSvv78EXAMPLE";
const SESSION_TOKEN = "FwoGZXIvYXdzEBYaDH6sV3zKqfYEXAMPLETOKENxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

function capture(format: "human" | "json", debug = false) {
  const lines: string[] = [];
  const log = createLogger({ format, debug, write: (l) => lines.push(l), now: () => new Date("2026-11-22T00:00:00Z") });
  return { log, text: () => lines.join("") };
}

describe("redaction", () => {
  it("masks secrets in JSON events by field name, nested and in arrays", () => {
    const { log, text } = capture("json");
    log.event("activation.created", {
      activationId: "4fd0e2b0-51a5-4f3b-9d5e-3b1c7d4e2a10",
      ActivationCode: ACTIVATION_CODE,
      session: { tokenValue: SESSION_TOKEN, sessionId: "alice-0a1b2c3d" },
      credentials: [{ SecretAccessKey: SECRET_KEY, AccessKeyId: "AKIAIOSFODNN7EXAMPLE" }],
    });
    const out = text();
    expect(out).not.toContain(ACTIVATION_CODE);
    expect(out).not.toContain(SESSION_TOKEN);
    expect(out).not.toContain(SECRET_KEY);
    expect(JSON.parse(out)).toEqual({
      time: "2026-11-22T00:00:00.000Z",
      level: "info",
      event: "activation.created",
      activationId: "4fd0e2b0-51a5-4f3b-9d5e-3b1c7d4e2a10",
      ActivationCode: "***",
      session: { tokenValue: "***", sessionId: "alice-0a1b2c3d" },
      credentials: [{ SecretAccessKey: "***", AccessKeyId: "AKIAIOSFODNN7EXAMPLE" }],
    });
  });

  it("masks secrets embedded in free text of human lines", () => {
    const { log, text } = capture("human");
    log.info(`running amazon-ssm-agent -register -code ${ACTIVATION_CODE} -id 4fd0e2b0 -region ap-northeast-1`);
    log.warn(`response {"SessionId":"s-1","TokenValue":"${SESSION_TOKEN}","StreamUrl":"wss://x"}`);
    log.error(`profile said aws_secret_access_key = ${SECRET_KEY}`);
    expect(text()).toBe(
      "running amazon-ssm-agent -register -code *** -id 4fd0e2b0 -region ap-northeast-1\n" +
        'warning: response {"SessionId":"s-1","TokenValue":"***","StreamUrl":"wss://x"}\n' +
        "error: profile said aws_secret_access_key = ***\n",
    );
  });

  it("masks a registered secret wherever it appears, whatever the field", () => {
    const token = "opaque-token-" + "q".repeat(30);
    registerSecret(token);
    const { log, text } = capture("json");
    log.event("odd", { note: `got ${token} back`, list: [token] });
    expect(text()).not.toContain(token);
    expect(JSON.parse(text())).toMatchObject({ note: "got *** back", list: ["***"] });
    expect(redactText(`x${token}y`)).toBe("x***y");
  });

  it("redacts error messages and presigned URL parameters", () => {
    const { log, text } = capture("json");
    log.event("failed", { error: new Error(`agent exited: amazon-ssm-agent -register -code ${ACTIVATION_CODE} -id x`) });
    expect(text()).not.toContain(ACTIVATION_CODE);
    expect(redactText(`key ${SECRET_KEY} commit 3f2a9c0d5e7b8a1c2d3e4f5a6b7c8d9e0f1a2b3c`)).toBe("key *** commit 3f2a9c0d5e7b8a1c2d3e4f5a6b7c8d9e0f1a2b3c");
    expect(redactText("wss://h/v1?X-Amz-Security-Token=abc%2Fdef&X-Amz-Date=1")).toBe("wss://h/v1?X-Amz-Security-Token=***&X-Amz-Date=1");
  });

  it("masks the secret shapes people type: PASSWORD=…, mysql -p…, a URL's password, a Bearer token — and names them", () => {
    const cases: Array<[string, string, string]> = [
      ["PGPASSWORD=hunter2hunter2 psql -h db", "PGPASSWORD=*** psql -h db", "a PASSWORD=… assignment"],
      ["export DB_PASSWORD='S3cr3tPassw0rd'", "export DB_PASSWORD=***", "a PASSWORD=… assignment"],
      ["MYSQL_PWD=S3cr3t mysql app", "MYSQL_PWD=*** mysql app", "a PASSWORD=… assignment"],
      ["mysql -uroot -pS3cr3tPassw0rd app", "mysql -uroot -p*** app", "a mysql -p<password>"],
      ["psql postgres://app:S3cr3tPassw0rd@db.internal/app", "psql postgres://app:***@db.internal/app", "a password in a URL"],
      ["curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc' https://x", "curl -H 'Authorization: Bearer ***' https://x", "a Bearer token"],
    ];
    for (const [text, masked, shape] of cases) {
      expect(redactText(text)).toBe(masked);
      expect(findSecretShape(text)).toBe(shape);
    }
    for (const ordinary of ["psql -h db -U app app", "mysql -p app", "curl https://db.internal:5432/x", "ls -la /app", "cd $PWD"]) {
      expect(redactText(ordinary)).toBe(ordinary);
      expect(findSecretShape(ordinary)).toBeUndefined();
    }
  });

  it("leaves ordinary values alone", () => {
    expect(redact({ instanceId: "mi-0123456789abcdef0", count: 3, ok: true, none: null })).toEqual({ instanceId: "mi-0123456789abcdef0", count: 3, ok: true, none: null });
  });
});

describe("logger", () => {
  it("drops debug lines unless asked, and prints fields with --debug for humans", () => {
    const quiet = capture("human");
    quiet.log.debug("hidden");
    expect(quiet.text()).toBe("");
    const loud = capture("human", true);
    loud.log.debug("shown", { step: 2 });
    expect(loud.text()).toBe('debug: shown {"step":2}\n');
  });

  it("carries base fields into child loggers", () => {
    const { log, text } = capture("json");
    log.child({ component: "entrypoint" }).event("exit", { code: 143, level: "warn", message: "bye" });
    expect(JSON.parse(text())).toEqual({ time: "2026-11-22T00:00:00.000Z", level: "warn", component: "entrypoint", event: "exit", msg: "bye", code: 143 });
  });

  it("writes private log files with mode 0600: the logger redacts the fields, the file writes the line as given", () => {
    const dir = mkdtempSync(join(tmpdir(), "bl-log-"));
    try {
      const path = join(dir, "state", "session.log");
      const file = openPrivateLog(path);
      const log = createLogger({ format: "json", write: file.write, now: () => new Date("2026-11-22T00:00:00Z") });
      log.event("session", { note: `token TokenValue=${SESSION_TOKEN}` });
      // A line already serialized is not rewritten: a pattern over JSON text could break its quoting.
      file.write('{"note":"Authorization: AWS4-HMAC-SHA256 x"}\n');
      file.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(readFileSync(path, "utf8")).toBe(
        '{"time":"2026-11-22T00:00:00.000Z","level":"info","event":"session","note":"token TokenValue=***"}\n{"note":"Authorization: AWS4-HMAC-SHA256 x"}\n',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

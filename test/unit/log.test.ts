import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { createLogger, escapeControl, findSecretShape, redact, redactText, registerSecret, openPrivateLog } from "../../lib/log.ts";
import { chmodSync, chownSync, linkSync, mkdirSync, mkdtempSync, readFileSync, statSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { asUser, createUser, removeUser, runAs, type UnixUser } from "../support/unix-users.ts";
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

  it("leaves file paths alone that happen to be 40 characters of the key alphabet (a mktemp checkout)", () => {
    const path = "/tmp/tmp.cyOZIhGmBx/test/reliability/fixtures/bad-input/invalid-json/bastionless.config.json";
    expect(redactText(`${path}: is not valid JSON`)).toBe(`${path}: is not valid JSON`);
    for (const key of [SECRET_KEY, "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/Ab", "Xq7/ab/Kz9PLmnOPqrSTuvWXyz0123456789ABCD"]) {
      expect(redactText(`secret ${key} end`)).toBe("secret *** end");
    }
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

  it("escapes every C0 and C1 control character, so that a terminal shows what the text holds", () => {
    expect(escapeControl("maintenance\u001b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\u0007\u001b[2K\rall good")).toBe(
      "maintenance\\e]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\\x07\\e[2K\\rall good",
    );
    expect(escapeControl("a\nb\tc\bd\u0000e\u007ff\u009bg\u0085h")).toBe("a\\nb\\tc\\bd\\x00e\\x7ff\\x9bg\\x85h");
    expect(escapeControl("plain: ünïcode, 日本語, tabs-free")).toBe("plain: ünïcode, 日本語, tabs-free");
  });

  it("leaves ordinary values alone", () => {
    expect(redact({ instanceId: "mi-0123456789abcdef0", count: 3, ok: true, none: null })).toEqual({
      instanceId: "mi-0123456789abcdef0",
      count: 3,
      ok: true,
      none: null,
    });
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

// Item 4 of the hardening issue: two real users — mallory plants, the victim (or root) writes a log.
describe("private log files never follow what another user planted", () => {
  const REPO = join(import.meta.dirname, "../..");
  let mallory: UnixUser;
  let victim: UnixUser;
  let base: string;
  beforeAll(() => {
    mallory = createUser("blm");
    victim = createUser("blv");
    base = mkdtempSync(join(tmpdir(), "bl-plant-"));
    chmodSync(base, 0o755);
  });
  afterAll(() => {
    rmSync(base, { recursive: true, force: true });
    removeUser(mallory);
    removeUser(victim);
  });

  /** openPrivateLog(path) and one line written, in a child run as `user`: its error message, or "" when it wrote. */
  function openAs(user: UnixUser, path: string): string {
    const code = `const { openPrivateLog } = await import(${JSON.stringify(join(REPO, "lib/log.ts"))});
      try { const f = openPrivateLog(process.argv[1]); f.write('{"event":"exec.start"}\\n'); f.close(); } catch (e) { process.stderr.write(e.message); process.exit(1); }`;
    const [cmd, ...args] = asUser(user, [process.execPath, "--import", "tsx", "--input-type=module", "-e", code, path]);
    const run = spawnSync(cmd, args, { cwd: REPO, encoding: "utf8" });
    return run.status === 0 ? "" : run.stderr;
  }
  const snapshot = (path: string) => ({ text: readFileSync(path, "utf8"), mode: statSync(path).mode & 0o7777, uid: statSync(path).uid });

  it("a shared XDG_STATE_HOME: mallory's bastionless/ with audit.jsonl → the victim's ~/.bashrc is refused; the .bashrc is untouched", () => {
    const shared = join(base, "shared");
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const bashrc = join(victim.home, ".bashrc");
    runAs(victim, ["sh", "-c", `printf 'alias ll="ls -l"\\n' > "$1" && chmod 644 "$1"`, "sh", bashrc]);
    runAs(mallory, ["sh", "-c", `mkdir -m 755 "$1/bastionless" && ln -s "$2" "$1/bastionless/audit.jsonl"`, "sh", shared, bashrc]);
    const before = snapshot(bashrc);
    expect(openAs(victim, join(shared, "bastionless/audit.jsonl"))).toBe(
      `Refusing to keep logs in ${shared}/bastionless: it is owned by uid ${mallory.uid}, not by you (uid ${victim.uid}). Point XDG_STATE_HOME at a directory of your own (under sudo, keep your own HOME: sudo -H, not sudo -E).`,
    );
    expect(snapshot(bashrc)).toEqual(before);
    expect(before).toEqual({ text: 'alias ll="ls -l"\n', mode: 0o644, uid: victim.uid });
  });

  it("a state directory of the victim's that others may write to (1777): refused before mallory's link is opened", () => {
    const state = join(base, "open-state");
    mkdirSync(state);
    chmodSync(state, 0o755);
    const dir = join(state, "bastionless");
    mkdirSync(dir);
    chownSync(dir, victim.uid, victim.gid);
    runAs(victim, ["chmod", "1777", dir]);
    const target = join(victim.home, "notes");
    runAs(victim, ["sh", "-c", `echo mine > "$1"`, "sh", target]);
    runAs(mallory, ["ln", "-s", target, join(dir, "audit.jsonl")]);
    expect(openAs(victim, join(dir, "audit.jsonl"))).toBe(
      `Refusing to keep logs in ${dir}: it is writable by every user (mode 1777). Make it private (chmod 700 ${dir}) once you have checked what is in it, or point XDG_STATE_HOME at a directory of your own.`,
    );
    expect(readFileSync(target, "utf8")).toBe("mine\n");
  });

  it("root with the victim's HOME (sudo -E): the victim's link to a root-owned file is refused; the file keeps its bytes and its 0644", () => {
    const rootFile = join(base, "root-owned.conf");
    writeFileSync(rootFile, "root: keep\n");
    chmodSync(rootFile, 0o644);
    const dir = join(victim.home, ".local/state/bastionless");
    runAs(victim, ["sh", "-c", `mkdir -p -m 700 "$1" && ln -s "$2" "$1/audit.jsonl"`, "sh", dir, rootFile]);
    expect(() => openPrivateLog(join(dir, "audit.jsonl"))).toThrow(
      `Refusing to keep logs in ${dir}: it is owned by uid ${victim.uid}, not by you (uid 0). Point XDG_STATE_HOME at a directory of your own (under sudo, keep your own HOME: sudo -H, not sudo -E).`,
    );
    expect(snapshot(rootFile)).toEqual({ text: "root: keep\n", mode: 0o644, uid: 0 });
  });

  it("in a directory of our own: a symlink, a hard link and another user's file are each refused, their targets untouched", () => {
    const dir = join(base, "own");
    mkdirSync(dir, { mode: 0o700 });
    const other = join(base, "other.txt");
    writeFileSync(other, "other\n");
    chmodSync(other, 0o644);
    symlinkSync(other, join(dir, "a.log"));
    expect(() => openPrivateLog(join(dir, "a.log"))).toThrow(
      `Refusing to write the log ${join(dir, "a.log")}: it is a symbolic link. Remove it (rm ${join(dir, "a.log")}); bastionless creates it again.`,
    );
    linkSync(other, join(dir, "b.log"));
    expect(() => openPrivateLog(join(dir, "b.log"))).toThrow(
      `Refusing to write the log ${join(dir, "b.log")}: it is a hard link (2 names for one file). Remove it (rm ${join(dir, "b.log")}); bastionless creates it again.`,
    );
    expect(snapshot(other)).toEqual({ text: "other\n", mode: 0o644, uid: 0 });
    writeFileSync(join(dir, "c.log"), "");
    chownSync(join(dir, "c.log"), victim.uid, victim.gid);
    expect(() => openPrivateLog(join(dir, "c.log"))).toThrow(
      `Refusing to write the log ${join(dir, "c.log")}: it is owned by uid ${victim.uid}, not by you (uid 0). Remove it (rm ${join(dir, "c.log")}); bastionless creates it again.`,
    );
    // The control: a fresh name in the same directory is created 0600 and written.
    const ok = openPrivateLog(join(dir, "d.log"));
    ok.write("line\n");
    ok.close();
    expect(snapshot(join(dir, "d.log"))).toEqual({ text: "line\n", mode: 0o600, uid: 0 });
  });
});

// Logging for every program: human lines for operators, one JSON object per event for the
// entrypoint and the cron job — and redaction of secrets on every path to the output.
import { openSync, writeSync, closeSync, mkdirSync, chmodSync } from "node:fs";
import { dirname } from "node:path";

export type Fields = Record<string, unknown>;
export type Level = "debug" | "info" | "warn" | "error";
export type LogFormat = "human" | "json";

const MASK = "***";

// Values the program learned at run time (an activation code, a session token, a data key).
// Registered once, masked wherever they appear afterwards, whatever the field or the format.
const knownSecrets = new Set<string>();

export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 8) knownSecrets.add(value);
}

// Field names whose values are secrets in AWS APIs, the agent's argv and credential files.
const SECRET_KEY = /^(activation_?code|token_?value|session_?token|secret_?access_?key|aws_secret_access_key|aws_session_token|password|authorization|x-amz-security-token|plaintext|ciphertext_?blob|data_?key|private_?key)$/i;

// Secrets people put in commands and URLs, each with the name a warning gives it.
const SECRET_SHAPES: Array<[string, RegExp, string]> = [
  // PGPASSWORD=…, DB_PASSWORD='…', --password=…, MYSQL_PWD=…, API_SECRET="…"
  ["a PASSWORD=… assignment", /(\b[A-Za-z_][A-Za-z0-9_]*(?:PASSWORD|PASSWD|SECRET)[A-Za-z0-9_]*\s*=\s*|\bMYSQL_PWD\s*=\s*)('[^']*'|"[^"]*"|[^\s'"]+)/gi, `$1${MASK}`],
  // mysql -uroot -pS3cr3t (mysql, mysqldump, mysqladmin take the password glued to -p)
  ["a mysql -p<password>", /(\bmysql(?:dump|admin|sh)?\b[^|;&\n]*?\s-p)([^\s'"]+)/g, `$1${MASK}`],
  // postgres://app:S3cr3t@db.internal/app
  ["a password in a URL", /(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)([^@\s/]+)(@)/gi, `$1${MASK}$3`],
  // Authorization: Bearer eyJ…
  ["a Bearer token", /(\bBearer\s+)([A-Za-z0-9._~+/-]+=*)/gi, `$1${MASK}`],
];

/** The name of the first secret shape `text` carries ("a Bearer token"), or undefined. */
export function findSecretShape(text: string): string | undefined {
  return SECRET_SHAPES.find(([, pattern]) => new RegExp(pattern.source, pattern.flags.replace("g", "")).test(text))?.[0];
}

// Secrets recognisable by their surroundings in free text.
const TEXT_PATTERNS: Array<[RegExp, string]> = [
  // JSON / key=value forms: "ActivationCode":"…", TokenValue=…, aws_secret_access_key = …
  [/("?(?:ActivationCode|TokenValue|tokenValue|SessionToken|sessionToken|SecretAccessKey|secretAccessKey|Plaintext|KMSCipherTextKey)"?\s*[:=]\s*"?)([^"\s,}&]+)/g, `$1${MASK}`],
  [/((?:aws_secret_access_key|aws_session_token|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN)\s*[=:]\s*)(\S+)/g, `$1${MASK}`],
  [/([?&]X-Amz-(?:Security-Token|Signature|Credential)=)([^&\s"]+)/gi, `$1${MASK}`],
  [/(Authorization:\s*AWS4-HMAC-SHA256\s+)(.+)/gi, `$1${MASK}`],
  // the agent's register argv: -code <activation code>
  [/(\s-code[ =])(\S+)/g, `$1${MASK}`],
  ...SECRET_SHAPES.map(([, pattern, replacement]): [RegExp, string] => [pattern, replacement]),
];

// An AWS secret access key: 40 base64 characters with both cases (a hex digest or a git commit has one case).
const SECRET_ACCESS_KEY = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;

/** Masks only the secrets this run registered (an activation code, a session token): nothing else changes. */
export function redactKnownSecrets(text: string): string {
  let out = text;
  for (const secret of knownSecrets) if (out.includes(secret)) out = out.split(secret).join(MASK);
  return out;
}

/** Masks every known and recognisable secret in a piece of text. */
export function redactText(text: string): string {
  let out = redactKnownSecrets(text);
  for (const [pattern, replacement] of TEXT_PATTERNS) out = out.replace(pattern, replacement);
  return out.replace(SECRET_ACCESS_KEY, (m) => (/[a-z]/.test(m) && /[A-Z]/.test(m) && /[0-9/+]/.test(m) ? MASK : m));
}

/** A deep copy of `value` with secret-named fields masked and every string redacted. */
export function redact<T>(value: T, seen = new WeakSet<object>()): T {
  if (typeof value === "string") return redactText(value) as T;
  if (value instanceof Error) return redactText(value.message) as T;
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[circular]" as T;
  seen.add(value);
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]` as T;
  if (Array.isArray(value)) return value.map((v) => redact(v, seen)) as T;
  if (value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && v !== "" ? MASK : redact(v, seen);
  }
  return out as T;
}

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  /** A named event: `{"time","level","event",…fields}` in JSON, `message` (or the name) for humans. */
  event(name: string, fields?: Fields & { message?: string; level?: Level }): void;
  child(fields: Fields): Logger;
}

export interface LoggerOptions {
  format: LogFormat;
  /** Where lines go; default stderr (stdout stays free for a program's data). */
  write?: (line: string) => void;
  debug?: boolean;
  /** Fields added to every JSON line (component, env…). */
  base?: Fields;
  now?: () => Date;
}

const HUMAN_PREFIX: Record<Level, string> = { debug: "debug: ", info: "", warn: "warning: ", error: "error: " };

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? (() => new Date());
  const base = options.base ?? {};

  function emit(level: Level, message: string | undefined, event: string | undefined, fields: Fields | undefined): void {
    if (level === "debug" && !options.debug) return;
    if (options.format === "json") {
      const record = redact({ time: now().toISOString(), level, ...base, ...(event ? { event } : {}), ...(message ? { msg: message } : {}), ...fields });
      write(JSON.stringify(record, jsonReplacer) + "\n");
    } else {
      const detail = options.debug && fields && Object.keys(fields).length ? " " + JSON.stringify(redact(fields), jsonReplacer) : "";
      write(redactText(HUMAN_PREFIX[level] + (message ?? event ?? "")) + detail + "\n");
    }
  }

  return {
    debug: (m, f) => emit("debug", m, undefined, f),
    info: (m, f) => emit("info", m, undefined, f),
    warn: (m, f) => emit("warn", m, undefined, f),
    error: (m, f) => emit("error", m, undefined, f),
    event: (name, f = {}) => {
      const { message, level = "info", ...rest } = f;
      emit(level, message, name, rest);
    },
    child: (fields) => createLogger({ ...options, base: { ...base, ...fields } }),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
  return value;
}

/**
 * A log file only its owner can read (mode 0600, created or tightened), appended line by line.
 * Lines are written as given: callers redact fields before serializing (a pattern run over a JSON
 * line can rewrite the record it belongs to, or break its quoting).
 */
export function openPrivateLog(path: string): { write: (line: string) => void; close: () => void } {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, "a", 0o600);
  chmodSync(path, 0o600);
  return {
    write: (line) => void writeSync(fd, line),
    close: () => closeSync(fd),
  };
}

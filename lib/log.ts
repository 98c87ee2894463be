// Logging for every program: human lines for operators, one JSON object per event for the
// entrypoint and the cron job — and redaction of secrets on every path to the output.
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, writeSync, type Stats } from "node:fs";
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
const SECRET_KEY =
  /^(activation_?code|token_?value|session_?token|secret_?access_?key|aws_secret_access_key|aws_session_token|password|authorization|x-amz-security-token|plaintext|ciphertext_?blob|data_?key|private_?key)$/i;

// Secrets people put in commands and URLs, each with the name a warning gives it.
const SECRET_SHAPES: Array<[string, RegExp, string]> = [
  // PGPASSWORD=…, DB_PASSWORD='…', --password=…, MYSQL_PWD=…, API_SECRET="…"
  [
    "a PASSWORD=… assignment",
    /(\b[A-Za-z_][A-Za-z0-9_]*(?:PASSWORD|PASSWD|SECRET)[A-Za-z0-9_]*\s*=\s*|\bMYSQL_PWD\s*=\s*)('[^']*'|"[^"]*"|[^\s'"]+)/gi,
    `$1${MASK}`,
  ],
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
  [
    /("?(?:ActivationCode|TokenValue|tokenValue|SessionToken|sessionToken|SecretAccessKey|secretAccessKey|Plaintext|KMSCipherTextKey)"?\s*[:=]\s*"?)([^"\s,}&]+)/g,
    `$1${MASK}`,
  ],
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
  return out.replace(SECRET_ACCESS_KEY, (m) => (looksLikeSecretKey(m) ? MASK : m));
}

/**
 * A 40-character run of the key alphabet is a secret when it has both cases and a digit or /+, and is
 * not a file path: a path such as `cyOZIhGmBx/test/reliability/fixtures/bad` (a mktemp directory
 * under a repository) has several lower-case words between its slashes, which a random key does not.
 */
function looksLikeSecretKey(run: string): boolean {
  if (!(/[a-z]/.test(run) && /[A-Z]/.test(run) && /[0-9/+]/.test(run))) return false;
  const words = run.split("/").filter((part) => /^[a-z][a-z0-9_-]{2,}$/.test(part));
  return words.length < 2;
}

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;
const NAMED_CONTROLS: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\u001b": "\\e" };

/**
 * `text` with every C0 and C1 control character (and DEL) written out as a visible escape (\e, \n,
 * \x07): what a terminal shows is then what the text holds. For strings we did not write ourselves —
 * AWS's answers (a task's stoppedReason can carry an OSC 52 clipboard write) and a command echoed
 * in a banner (a run of \b can make `rm -rf x` display as `ls -la x`).
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL_CHARS, (c) => NAMED_CONTROLS[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
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
 *
 * The directory must be ours and writable by no one else, and the file is opened without following
 * a symlink, then checked through its fd (a regular file of ours with one link) and chmod-ed through
 * it: in a shared XDG_STATE_HOME, or a user's HOME under `sudo -E`, a planted link would otherwise
 * have us append to, and chmod, a file of the victim's (or root's) choosing.
 */
export function openPrivateLog(path: string): { write: (line: string) => void; close: () => void } {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  assertPrivateDir(dir);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP")
      throw new Error(`Refusing to write the log ${path}: it is a symbolic link. Remove it (rm ${path}); bastionless creates it again.`, { cause: error });
    throw new Error(`Could not open the log ${path}: ${code ?? (error as Error).message}. Is ${dir} writable?`, { cause: error });
  }
  const problem = fileProblem(fstatSync(fd));
  if (problem) {
    closeSync(fd);
    throw new Error(`Refusing to write the log ${path}: it is ${problem}. Remove it (rm ${path}); bastionless creates it again.`);
  }
  fchmodSync(fd, 0o600);
  return {
    write: (line) => void writeSync(fd, line),
    close: () => closeSync(fd),
  };
}

/** Throws unless `dir` is a real directory of ours that no one else may write to. */
export function assertPrivateDir(dir: string): void {
  const stat = lstatSync(dir);
  const uid = process.getuid?.();
  let problem: string | undefined;
  let fix = "";
  if (!stat.isDirectory()) {
    problem = "not a directory (a symbolic link or a file)";
    fix = `Remove it, or point XDG_STATE_HOME at a directory of your own.`;
  } else if (uid !== undefined && stat.uid !== uid) {
    problem = `owned by uid ${stat.uid}, not by you (uid ${uid})`;
    fix = "Point XDG_STATE_HOME at a directory of your own (under sudo, keep your own HOME: sudo -H, not sudo -E).";
  } else if (stat.mode & 0o022) {
    problem = `writable by ${stat.mode & 0o002 ? "every user" : "its group"} (mode ${(stat.mode & 0o7777).toString(8).padStart(4, "0")})`;
    fix = `Make it private (chmod 700 ${dir}) once you have checked what is in it, or point XDG_STATE_HOME at a directory of your own.`;
  }
  if (problem) throw new Error(`Refusing to keep logs in ${dir}: it is ${problem}. ${fix}`);
}

function fileProblem(stat: Stats): string | undefined {
  const uid = process.getuid?.();
  if (!stat.isFile()) return "not a regular file";
  if (uid !== undefined && stat.uid !== uid) return `owned by uid ${stat.uid}, not by you (uid ${uid})`;
  if (stat.nlink !== 1) return `a hard link (${stat.nlink} names for one file)`;
  return undefined;
}

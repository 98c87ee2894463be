// The secret scan: searches every capture of a test run (capture.ts) for every secret the local
// cloud issued (test/localcloud/secrets.ts). A hit names the secret's kind and a masked prefix,
// never the value, with the capture (argv or file), the test and the line.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { IssuedSecret, SecretKind } from "../localcloud/index.ts";
import type { CaptureMeta } from "./capture.ts";

export interface Hit {
  kind: SecretKind;
  issuedBy: string;
  /** The first characters of the form found, then "…": enough to tell secrets apart, never enough to use one. */
  masked: string;
  /** How it was written: "as issued", "hex", "base64 of the first half"… */
  form: string;
  /** The capture's argv (secrets in it masked) or what the files are. */
  capture: string;
  test?: string;
  /** "stdout", "stderr" or the copied file's original path. */
  file: string;
  line: number;
  /** Further occurrences in the same file. */
  more: number;
}

export interface ScanResult {
  captures: number;
  excluded: number;
  secrets: number;
  hits: Hit[];
}

interface Needle {
  text: string;
  form: string;
  secret: IssuedSecret;
}

/** The forms a secret can take in text. A 64-byte data key also leaks as either 32-byte half (the agent's and the client's key). */
export function needlesOf(secret: IssuedSecret): Needle[] {
  const forms: Array<[string, string]> = [];
  if (secret.kind === "kms-data-key") {
    const key = Buffer.from(secret.value, "base64");
    const halves: Array<[string, Buffer]> = [
      ["", key.subarray(0, 32)],
      [" of the second half", key.subarray(32)],
    ];
    for (const [which, part] of halves) {
      if (!part.length) continue;
      // base64 of 32 bytes: the first 42 characters do not depend on what follows (so they also match the whole key's)
      forms.push(
        [`base64${which}`, part.toString("base64").slice(0, 42)],
        [`base64url${which}`, part.toString("base64url").slice(0, 42)],
        [`hex${which}`, part.toString("hex")],
      );
    }
    if (key.length > 32) forms.push(["base64 (whole key)", secret.value]);
  } else {
    forms.push(["as issued", secret.value]);
    const encoded = encodeURIComponent(secret.value);
    if (encoded !== secret.value) forms.push(["URL-encoded", encoded]);
  }
  return forms.filter(([, text]) => text.length >= 16).map(([form, text]) => ({ form, text, secret }));
}

export function readIssuedSecrets(file: string): IssuedSecret[] {
  if (!existsSync(file)) return [];
  const seen = new Set<string>();
  const out: IssuedSecret[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const secret = JSON.parse(line) as IssuedSecret;
    if (seen.has(secret.value)) continue;
    seen.add(secret.value);
    out.push(secret);
  }
  return out;
}

export function maskSecret(text: string): string {
  return `${text.slice(0, 4)}…(${text.length} chars)`;
}

function maskIn(text: string, needles: Needle[]): string {
  let out = text;
  for (const n of needles) if (out.includes(n.text)) out = out.split(n.text).join(maskSecret(n.text));
  return out;
}

/** Hits of every needle in one file. Line breaks are taken out first: a terminal may wrap a secret (tmux capture-pane). */
function scanText(raw: string, needles: Needle[]): Array<{ needle: Needle; line: number; more: number }> {
  const breaks: number[] = [];
  let joined = "";
  let from = 0;
  for (let i = raw.indexOf("\n"); i !== -1; i = raw.indexOf("\n", i + 1)) {
    joined += raw.slice(from, raw[i - 1] === "\r" ? i - 1 : i);
    breaks.push(joined.length);
    from = i + 1;
  }
  joined += raw.slice(from);
  const lineAt = (offset: number) => {
    let lo = 0;
    let hi = breaks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (breaks[mid] <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
  const hits = [];
  for (const needle of needles) {
    const at = joined.indexOf(needle.text);
    if (at === -1) continue;
    let more = 0;
    for (let i = joined.indexOf(needle.text, at + 1); i !== -1; i = joined.indexOf(needle.text, i + 1)) more++;
    hits.push({ needle, line: lineAt(at), more });
  }
  return hits;
}

function listFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).map((name) => join(dir, name)) : [];
}

/** Scans a capture directory for the given secrets. */
export function scanCaptures(dir: string, secrets: IssuedSecret[]): ScanResult {
  const needles = secrets.flatMap(needlesOf);
  const result: ScanResult = { captures: 0, excluded: 0, secrets: secrets.length, hits: [] };
  const ids = existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => n.endsWith(".json"))
        .map((n) => n.slice(0, -5))
        .sort()
    : [];
  for (const id of ids) {
    const meta = JSON.parse(readFileSync(join(dir, `${id}.json`), "utf8")) as CaptureMeta;
    if (meta.excluded) {
      result.excluded++;
      continue;
    }
    result.captures++;
    const files: Array<[string, string]> = [];
    for (const stream of ["stdout", "stderr"]) if (existsSync(join(dir, `${id}.${stream}`))) files.push([stream, join(dir, `${id}.${stream}`)]);
    for (const path of listFiles(join(dir, `${id}.files`))) files.push([decodeURIComponent(basename(path)), path]);
    for (const [file, path] of files) {
      // latin1 keeps every byte one character: the needles are ASCII, and no byte sequence can hide one
      for (const hit of scanText(readFileSync(path, "latin1"), needles)) {
        result.hits.push({
          kind: hit.needle.secret.kind,
          issuedBy: hit.needle.secret.issuedBy,
          masked: maskSecret(hit.needle.text),
          form: hit.needle.form,
          capture: maskIn(meta.argv.join(" "), needles),
          test: meta.test,
          file,
          line: hit.line,
          more: hit.more,
        });
      }
    }
  }
  return result;
}

export function summaryLine(r: ScanResult): string {
  const excluded = r.excluded ? ` (${r.excluded} more excluded by test/support/capture-allowlist.ts)` : "";
  return `secret scan: ${r.captures} captures${excluded}, ${r.secrets} issued secrets, ${r.hits.length} hits`;
}

/** One paragraph per hit: what leaked (kind, masked), where (capture, test, file:line). */
export function formatHits(hits: Hit[]): string {
  return hits
    .map((h) => {
      const more = h.more ? ` (and ${h.more} more in that file)` : "";
      return [
        `${h.kind} ${h.masked} (${h.form}; issued by ${h.issuedBy}) found in ${h.file} line ${h.line}${more}`,
        `  of: ${h.capture}`,
        ...(h.test ? [`  in: ${h.test}`] : []),
      ].join("\n");
    })
    .join("\n");
}

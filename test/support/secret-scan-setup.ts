// vitest globalSetup: gives the run a capture directory and a file for the secrets the local clouds
// issue (both through the env, which the workers and their children inherit), and when the run
// ends scans every capture for every secret. A hit fails the run: vitest does not fail on a
// teardown error, so the exit code is set here, after vitest has set its own.
// SECRET_SCAN_KEEP=1 keeps the captures of a clean run too.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SECRETS_FILE_ENV } from "../localcloud/index.ts";
import { CAPTURE_DIR_ENV } from "./capture.ts";
import { formatHits, readIssuedSecrets, scanCaptures, summaryLine } from "./secret-scan.ts";
import { writeReport } from "../reliability/report.ts";

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), "bastionless-secret-scan-"));
  const captures = join(root, "captures");
  const secretsFile = join(root, "issued-secrets.jsonl");
  mkdirSync(captures);
  process.env[CAPTURE_DIR_ENV] = captures;
  process.env[SECRETS_FILE_ENV] = secretsFile;
  return () => {
    const started = Date.now();
    const result = scanCaptures(captures, readIssuedSecrets(secretsFile));
    console.log(`${summaryLine(result)} (${Date.now() - started} ms)`);
    writeReport("secret-scan", { captures: result.captures, excluded: result.excluded, secrets: result.secrets, hits: result.hits.length });
    if (!result.hits.length && !process.env.SECRET_SCAN_KEEP) return rmSync(root, { recursive: true, force: true });
    if (!result.hits.length) return console.log(`SECRET_SCAN_KEEP: the captures are kept in ${root}.`);
    console.error(`${formatHits(result.hits)}\nThe captures and the issued secrets are kept in ${root}.`);
    process.exitCode = 1;
  };
}

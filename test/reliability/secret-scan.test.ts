// The secret scan catches what it claims to: a program that prints or logs a secret the local
// cloud issued is reported with the secret's kind, a masked prefix (never the value), the
// program's argv, the stream or file and the line. The program is captured into a directory of
// this test's own, like the run's capture (test/support/capture.ts) captures every child.
import { CreateKeyCommand, GenerateDataKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { CreateActivationCommand, SSMClient } from "@aws-sdk/client-ssm";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "../support/clients.ts";
import { findExclusion } from "../support/capture-allowlist.ts";
import { captureChild } from "../support/capture.ts";
import { formatHits, scanCaptures, summaryLine } from "../support/secret-scan.ts";

const PROGRAM = join(import.meta.dirname, "fixtures/leaky-program.mjs");
let cloud: LocalCloud;
let ssm: SSMClient;
let kms: KMSClient;
let dir: string;

beforeAll(async () => {
  cloud = await startLocalCloud();
  ssm = new SSMClient(cloudConfig(cloud));
  kms = new KMSClient(cloudConfig(cloud));
});

afterAll(async () => {
  ssm?.destroy();
  kms?.destroy();
  await cloud?.stop();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "secret-scan-test-"));
  return () => rmSync(dir, { recursive: true, force: true });
});

/** Runs the leaky program with `env`, captured into `dir`. */
async function runCaptured(env: Record<string, string>): Promise<void> {
  const argv = [process.execPath, PROGRAM];
  const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, XDG_STATE_HOME: join(dir, "state"), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  captureChild(child, join(dir, "captures"), { argv, env: { XDG_STATE_HOME: join(dir, "state") } });
  child.stdout!.resume();
  child.stderr!.resume();
  await once(child, "close");
}

async function newActivationCode(): Promise<string> {
  const out = await ssm.send(new CreateActivationCommand({ IamRole: "bastionless-ssm-managed-instance" }));
  return out.ActivationCode!;
}

it("reports an activation code printed on stdout and written to a log file: kind, masked prefix, argv, line", async () => {
  const code = await newActivationCode();
  await runCaptured({ LEAK_STDOUT: `registering with -code ${code}`, LEAK_LOG: `activation ${code} used` });

  const result = scanCaptures(join(dir, "captures"), cloud.issuedSecrets());
  const masked = `${code.slice(0, 4)}…(20 chars)`;
  expect(formatHits(result.hits)).toBe(
    [
      `activation-code ${masked} (as issued; issued by ssm:CreateActivation) found in stdout line 2`,
      `  of: ${process.execPath} ${PROGRAM}`,
      `activation-code ${masked} (as issued; issued by ssm:CreateActivation) found in ${join(dir, "state/bastionless/leaky.log")} line 2`,
      `  of: ${process.execPath} ${PROGRAM}`,
    ].join("\n"),
  );
  expect(summaryLine(result)).toBe("secret scan: 1 captures, 1 issued secrets, 2 hits");
  expect(JSON.stringify(result)).not.toContain(code);
});

it("finds a KMS data key as the hex of either half, even wrapped across lines like a terminal's", async () => {
  const key = await kms.send(new CreateKeyCommand({}));
  const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyMetadata!.KeyId, NumberOfBytes: 64 }));
  const hex = Buffer.from(dataKey.Plaintext!).toString("hex");
  // a 100-column pane: the second half's 64 hex characters start at column 40 and wrap at 100
  const line = `${"x".repeat(40)}${hex.slice(64)}`;
  await runCaptured({ LEAK_STDERR: `${line.slice(0, 100)}\n${line.slice(100)}` });

  const result = scanCaptures(join(dir, "captures"), cloud.issuedSecrets());
  expect(result.hits.map((h) => `${h.kind} ${h.masked} ${h.form} ${h.file}:${h.line}`)).toEqual([
    `kms-data-key ${hex.slice(64, 68)}…(64 chars) hex of the second half stderr:1`,
  ]);
  expect(result.hits[0].issuedBy).toBe("kms:GenerateDataKey");
});

it("passes a program that prints only ids and masked values", async () => {
  const code = await newActivationCode();
  await runCaptured({ LEAK_STDOUT: `registering with -code *** (${code.length} chars)`, LEAK_LOG: "activation *** used" });

  const result = scanCaptures(join(dir, "captures"), cloud.issuedSecrets());
  expect(result.hits).toEqual([]);
  expect(summaryLine(result)).toMatch(/^secret scan: 1 captures, \d+ issued secrets, 0 hits$/);
});

it("leaves out only the allowlisted programs, and counts them", async () => {
  expect(findExclusion(["/usr/bin/aws", "ssm", "create-activation", "--iam-role", "r"])?.reason).toBe(
    "the AWS CLI's create-activation prints the ActivationCode by design",
  );
  expect(findExclusion(["aws", "ssm", "describe-activations"])).toBeUndefined();
  expect(findExclusion([process.execPath, "--import", "tsx", "scripts/exec.mts", "--env", "stg"])).toBeUndefined();
  const code = await newActivationCode();
  const argv = [process.execPath, PROGRAM];
  const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, LEAK_STDOUT: code }, stdio: ["ignore", "pipe", "pipe"] });
  captureChild(child, join(dir, "captures"), { argv, excluded: findExclusion(argv)!.reason });
  child.stdout!.resume();
  child.stderr!.resume();
  await once(child, "close");

  const result = scanCaptures(join(dir, "captures"), cloud.issuedSecrets());
  expect(summaryLine(result)).toBe(`secret scan: 0 captures (1 more excluded by test/support/capture-allowlist.ts), ${result.secrets} issued secrets, 0 hits`);
});

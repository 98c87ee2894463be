import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PortFlag } from "../../../lib/session/frames.ts";
import { type Harness, readAll, readUntil, startHarness } from "./harness.ts";
import type { SessionSpec } from "./types.ts";

let harness: Harness;
let workdir: string;
/** A fake KMS: the "ciphertext" is an id for a plaintext it remembers, with the context it was made for. */
const kmsKeys = new Map<string, { plaintext: Buffer; context: string }>();

beforeAll(async () => {
  workdir = mkdtempSync(join(tmpdir(), "dataplane-shell-"));
  harness = await startHarness({
    kmsDecrypt: async (ciphertext, context) => {
      const key = kmsKeys.get(ciphertext.toString("hex"));
      if (!key || key.context !== JSON.stringify(context)) throw new Error("InvalidCiphertextException");
      return key.plaintext;
    },
  });
});

afterAll(async () => {
  await harness?.close();
  rmSync(workdir, { recursive: true, force: true });
});

function shellSpec(command: string | undefined, extra: Partial<Extract<SessionSpec, { kind: "shell" }>> = {}): SessionSpec {
  return {
    kind: "shell",
    sessionId: `ecs-execute-command-${randomUUID()}`,
    target: "ecs:demo_abc_def",
    command,
    cwd: workdir,
    env: { APP_ENV: "stg" },
    ...extra,
  };
}

describe("shell sessions", () => {
  it("runs `echo hi; exit 3`: hi, then channel_closed", async () => {
    const spec = shellSpec("echo hi; exit 3");
    const driver = await harness.connect(spec);
    expect(await driver.ready).toBe("shell");
    expect(driver.handshakeRequest).toBeUndefined(); // no handshake without KMS
    const output = (await readAll(driver.bytes)).toString();
    expect(output).toBe("hi\r\n");
    expect(await driver.closed).toBe("");
    const state = harness.plane.sessions().find((s) => s.sessionId === spec.sessionId)!;
    expect(state).toMatchObject({ status: "Terminated", kind: "shell", bytesOut: 4 });
  });

  it("runs on a real pty in the container's cwd and env, and follows Size payloads", async () => {
    const driver = await harness.connect(shellSpec(undefined));
    driver.sendSize(300, 100); // what the plugin sends when stdout is not a terminal (§5)
    driver.bytes.write("tty >/dev/null && echo IS-A-TTY; pwd; echo env=$APP_ENV; stty size\r");
    const first = await readUntil(driver.bytes, /\d+ \d+\r\n/);
    expect(first).toContain("IS-A-TTY");
    expect(first).toContain(workdir);
    expect(first).toContain("env=stg");
    expect(first).toMatch(/100 300\r\n/);
    driver.sendSize(132, 43);
    driver.bytes.write("stty size\r");
    expect(await readUntil(driver.bytes, /43 132\r\n/)).toMatch(/43 132/);
    driver.bytes.write("exit\r");
    expect(await driver.closed).toBe("");
  });

  it("passes Ctrl-C (0x03) to the remote foreground job; exit then closes the channel", async () => {
    const driver = await harness.connect(shellSpec(undefined));
    driver.sendSize(100, 30);
    driver.bytes.write("sleep 30; echo not-interrupted\r");
    await new Promise((r) => setTimeout(r, 700));
    const started = Date.now();
    driver.bytes.write("\x03");
    driver.bytes.write("echo after-$((1+1))\r");
    const text = await readUntil(driver.bytes, /after-2\r\n/, 10_000);
    expect(text).toContain("^C");
    expect(text).not.toMatch(/\nnot-interrupted\r\n/); // only the echoed command line has it
    driver.bytes.write("exit\r");
    expect(await driver.closed).toBe("");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("ends the shell on the TerminateSession flag", async () => {
    const driver = await harness.connect(shellSpec("sleep 60"));
    driver.sendSize(80, 24);
    await new Promise((r) => setTimeout(r, 300));
    driver.sendFlag(PortFlag.TerminateSession);
    expect(await driver.closed).toBe("");
  });

  it("does the KMS handshake and encrypts both ways", async () => {
    const spec = shellSpec("read line; echo got:$line", { kmsKeyId: "arn:aws:kms:us-east-1:123456789012:key/demo" });
    const driver = await harness.connect(spec, {
      generateDataKey: async (_keyId, context) => {
        const ciphertext = randomBytes(48);
        const plaintext = randomBytes(64);
        kmsKeys.set(ciphertext.toString("hex"), { plaintext, context: JSON.stringify(context) });
        return { ciphertext, plaintext };
      },
    });
    expect(await driver.ready).toBe("shell");
    expect(driver.customerMessage).toBe("This session is encrypted using AWS KMS.");
    expect(driver.handshakeRequest!.RequestedClientActions.map((a) => a.ActionType)).toEqual(["SessionType", "KMSEncryption"]);
    driver.bytes.write("secret\r");
    expect(await readUntil(driver.bytes, /got:secret/)).toContain("got:secret");
    expect(await driver.closed).toBe("");
  });

  it("fails a KMS session whose data key KMS will not decrypt, with the handshake error in channel_closed", async () => {
    const spec = shellSpec("echo never", { kmsKeyId: "arn:aws:kms:us-east-1:123456789012:key/demo" });
    const driver = await harness.connect(spec, {
      generateDataKey: async () => ({ ciphertext: randomBytes(48), plaintext: randomBytes(64) }),
    });
    const output = await driver.closed;
    expect(output).toMatch(/^----------ERROR-------\nEncountered error while initiating handshake\. /);
    expect(output).toContain("InvalidCiphertextException");
  });
});

// make passes ENV and ARGS to the program as typed: quotes keep spaces in one argument, $ is never
// expanded (by make or by a shell), an unmatched quote is one line; and the program's own exit code
// is what make reports (`Error N`), as docs/install.md says.
import { expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../support/run.ts";
import { REPO } from "./portforward-harness.ts";

function make(args: string[]) {
  const home = mkdtempSync(join(tmpdir(), "make-args-"));
  // No credentials anywhere: the one AWS call fails the same way on every machine.
  const env: Record<string, string | undefined> = Object.fromEntries(
    Object.keys(process.env)
      .filter((k) => k.startsWith("AWS_") || k === "MAKEFLAGS" || k === "MAKELEVEL")
      .map((k) => [k, undefined]),
  );
  Object.assign(env, {
    HOME: home,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_REGION: "ap-northeast-1",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    BASTIONLESS_CONFIG: "",
    XDG_STATE_HOME: home,
  });
  return run("make", ["--no-print-directory", "-C", REPO, ...args], { env }).finally(() => rmSync(home, { recursive: true, force: true }));
}

it("passes $HOSTNAME as $HOSTNAME and a quoted argument with spaces as one argument", async () => {
  const out = await make(["tunnel", "ENV=stg", "ARGS=--local-port '$HOSTNAME and more'"]);
  expect(out.stderr.split("\n").filter(Boolean)).toEqual([
    "portforward: --local-port $HOSTNAME and more is not a port: use a number from 0 to 65535.",
    expect.stringMatching(/^make: \*\*\* \[Makefile:\d+: tunnel\] Error 2$/),
  ]);
  expect(out.code).toBe(2);
});

it("reports the program's own exit code (Error 1: a failure, not a usage error), with every argument intact", async () => {
  const out = await make(["exec", "ARGS=--env stg --cluster \"a b\" --command 'echo $HOME' --check"]);
  expect(out.stderr).toContain("exec: ecs:DescribeClusters on cluster a b failed: no AWS credentials were found.");
  expect(out.stderr).toMatch(/\nmake: \*\*\* \[Makefile:\d+: exec\] Error 1\n$/);
});

it("an unmatched quote in ARGS is one line and exit 2, and nothing runs", async () => {
  const out = await make(["cleanup", "ARGS=--env 'stg"]);
  expect(out.stderr.split("\n").filter(Boolean)).toEqual([
    "make: ARGS has an unmatched quote: --env 'stg",
    expect.stringMatching(/^make: \*\*\* \[Makefile:\d+: cleanup\] Error 2$/),
  ]);
  expect(out.code).toBe(2);
});

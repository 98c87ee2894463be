// `make demo` is part of CI through this test: the demo script itself, start to finish, under 60 s.
import { describe, expect, it } from "vitest";
import { runScript } from "../support/run.ts";

describe("make demo (test/demo.mts)", () => {
  it("tunnels, queries the seeded rows through the tunnel, stops, proves nothing is left, exits 0", async () => {
    const started = Date.now();
    const { code, stdout: out, stderr: err } = await runScript("test/demo.mts", [], { timeoutMs: 90_000 });
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out).toContain("    1  stg  hello from the staging database\n");
    expect(out).toMatch(/Stopped bastion task [0-9a-f-]{36}; nothing is left running\./);
    expect(out).toContain("   0 running bastion tasks, 0 activations, 0 instances, 0 parameters, 0 open sessions\n   Nothing left behind.");
    expect(out).toMatch(/Demo passed in \d+\.\ds\./);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 90_000);
});

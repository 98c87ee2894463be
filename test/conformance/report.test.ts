// The conformance run's table, versions and refusal line, without AWS's binaries.
import { describe, expect, it } from "vitest";
import { missingBinariesLine } from "./binaries.ts";
import { differences, exitCodeOf, formatReport, parseAgentVersion, parsePluginVersion, type CaseResult } from "./report.ts";
import { download, sha256Of, startTarget, upload } from "./target.ts";

describe("versions", () => {
  it("reads what each binary prints", () => {
    expect(parsePluginVersion("1.2.677.0\n")).toBe("1.2.677.0");
    expect(parsePluginVersion("The Session Manager plugin was installed successfully.\n")).toBeUndefined();
    expect(parseAgentVersion("SSM Agent version: 3.3.484.0\n")).toBe("3.3.484.0");
    expect(parseAgentVersion("flag provided but not defined: -version")).toBeUndefined();
  });
});

describe("the refusal without AWS's binaries", () => {
  it("is one line naming what is missing", () => {
    const line = missingBinariesLine(undefined, "/opt/agent", (p) => p === "/opt/agent/amazon-ssm-agent");
    expect(line).toBe(
      "conformance needs AWS's binaries, none of which is in this repository: make conformance PLUGIN=<session-manager-plugin> AGENT_DIR=<directory holding amazon-ssm-agent, ssm-agent-worker, ssm-session-worker> (PLUGIN is not set; AGENT_DIR=/opt/agent lacks ssm-agent-worker, ssm-session-worker); docs/conformance.md says how to get them.",
    );
    expect(line).not.toContain("\n");
    expect(missingBinariesLine("/p", "/a", () => true)).toBeUndefined();
  });
});

const r = (
  c: string,
  client: "native" | "plugin",
  agent: "emulated" | "real",
  outcome: CaseResult["outcome"],
  observed: string,
  rates?: [number, number],
): CaseResult => ({ case: c, client, agent, outcome, observed, ...(rates ? { downMBps: rates[0], upMBps: rates[1] } : {}) });

describe("the table", () => {
  const results = [
    r("half-close", "native", "emulated", "pass", "no reply"),
    r("half-close", "native", "real", "fail", "the reply arrived"),
    r("half-close", "plugin", "emulated", "pass", "no reply"),
    r("half-close", "plugin", "real", "pass", "no reply"),
    r("8 parallel", "native", "emulated", "pass", "intact", [0.651, 12.34]),
  ];

  it("puts pairs in columns, MB/s each way, a missing cell as not run", () => {
    const text = formatReport(["half-close", "8 parallel"], results);
    expect(text.split("\n").slice(0, 4)).toEqual([
      "| case | native × emulated agent | plugin × emulated agent | native × real agent | plugin × real agent |",
      "| --- | --- | --- | --- | --- |",
      "| half-close | pass | pass | fail | pass |",
      "| 8 parallel | pass (↓ 0.65 ↑ 12.3 MB/s) | not run | not run | not run |",
    ]);
    expect(text).toContain("- half-close (native): emulated pass: no reply; real fail: the reply arrived");
    expect(text).toContain("- 8 parallel, native × emulated agent: pass — intact");
    const notRun = formatReport(["a", "b"], [r("a", "plugin", "real", "not run", "no relay"), r("b", "plugin", "real", "not run", "no relay")]);
    expect(notRun.split("\n").filter((l) => l.includes("no relay"))).toEqual(["- plugin × real agent, every case: not run — no relay"]);
  });

  it("lists a difference only where both agents ran for the same client", () => {
    expect(differences(results)).toEqual([{ case: "half-close", client: "native", emulated: "pass: no reply", real: "fail: the reply arrived" }]);
    expect(differences([r("x", "native", "emulated", "pass", "a"), r("x", "native", "real", "not run", "no relay")])).toEqual([]);
  });

  it("exits 0 only when every pair ran every case and passed", () => {
    const all = (outcome: CaseResult["outcome"]) =>
      (["native", "plugin"] as const).flatMap((c) => (["emulated", "real"] as const).map((a) => r("x", c, a, outcome, "")));
    expect(exitCodeOf(["x"], all("pass"))).toBe(0);
    expect(exitCodeOf(["x"], all("pass").slice(0, 3))).toBe(1);
    expect(exitCodeOf(["x"], [...all("pass").slice(0, 3), r("x", "plugin", "real", "not run", "")])).toBe(1);
    expect(exitCodeOf([], [])).toBe(1);
  });
});

describe("the target service", () => {
  it("sends the seed's bytes, hashes what it gets, and answers after a half-close", async () => {
    const target = await startTarget();
    try {
      const down = await download(target.port, "s", 200_000, 5000);
      expect(down).toMatchObject({ sha: sha256Of("s", 200_000), bytes: 200_000 });
      expect((await upload(target.port, "u", 100_000, 5000)).answer).toBe(`${sha256Of("u", 100_000)} 100000`);
      expect((await upload(target.port, "h", 70_000, 5000, true)).answer).toBe(`${sha256Of("h", 70_000)} 70000`);
      expect(sha256Of("s", 10)).not.toBe(sha256Of("t", 10));
    } finally {
      await target.close();
    }
  });
});

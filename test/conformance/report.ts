// The conformance run's pure parts: what AWS's binaries say their version is, and the one table
// (case × pair → pass/fail, MB/s each way) with, for each case, where the emulated agent and the
// real one behaved differently.

export type ClientKind = "native" | "plugin";
export type AgentKind = "emulated" | "real";
export interface Pair {
  client: ClientKind;
  agent: AgentKind;
}
export const PAIRS: Pair[] = [
  { client: "native", agent: "emulated" },
  { client: "plugin", agent: "emulated" },
  { client: "native", agent: "real" },
  { client: "plugin", agent: "real" },
];

export interface CaseResult extends Pair {
  case: string;
  outcome: "pass" | "fail" | "not run";
  /** MB/s (10^6 bytes) target → client and client → target, when the case moved bulk data. */
  downMBps?: number;
  upMBps?: number;
  /**
   * What the client saw, in words that do not depend on timing or on which client ran ("reply lost
   * after the client's EOF"): compared between the emulated and the real agent for the same client.
   */
  observed: string;
}

/** `session-manager-plugin --version` prints the bare version. */
export function parsePluginVersion(stdout: string): string | undefined {
  return stdout.trim().match(/^(\d+(?:\.\d+){2,3})$/m)?.[1];
}

/** `amazon-ssm-agent -version` prints `SSM Agent version: 3.3.484.0`. */
export function parseAgentVersion(stdout: string): string | undefined {
  return stdout.match(/SSM Agent version:\s*(\d+(?:\.\d+){2,3})/)?.[1];
}

export function pairLabel(pair: Pair): string {
  return `${pair.client} × ${pair.agent} agent`;
}

function cell(result: CaseResult | undefined): string {
  if (!result) return "not run";
  const rates = [result.downMBps, result.upMBps].some((r) => r !== undefined) ? ` (↓ ${rate(result.downMBps)} ↑ ${rate(result.upMBps)} MB/s)` : "";
  return `${result.outcome}${rates}`;
}

function rate(value: number | undefined): string {
  return value === undefined ? "–" : value.toFixed(value < 10 ? 2 : 1);
}

/** For one client: the cases both agents ran in which they were seen to behave differently. */
export function differences(results: CaseResult[]): { case: string; client: ClientKind; emulated: string; real: string }[] {
  const out: { case: string; client: ClientKind; emulated: string; real: string }[] = [];
  for (const emulated of results.filter((r) => r.agent === "emulated" && r.outcome !== "not run")) {
    const real = results.find((r) => r.agent === "real" && r.case === emulated.case && r.client === emulated.client && r.outcome !== "not run");
    if (real && (real.observed !== emulated.observed || real.outcome !== emulated.outcome)) {
      out.push({
        case: emulated.case,
        client: emulated.client,
        emulated: `${emulated.outcome}: ${emulated.observed}`,
        real: `${real.outcome}: ${real.observed}`,
      });
    }
  }
  return out;
}

/** The Markdown table, the notes of every cell that did not pass, and the differences between agents. */
export function formatReport(cases: string[], results: CaseResult[], pairs: Pair[] = PAIRS): string {
  const find = (c: string, p: Pair) => results.find((r) => r.case === c && r.client === p.client && r.agent === p.agent);
  const lines = [`| case | ${pairs.map(pairLabel).join(" | ")} |`, `| --- |${pairs.map(() => " --- |").join("")}`];
  for (const c of cases) lines.push(`| ${c} | ${pairs.map((p) => cell(find(c, p))).join(" | ")} |`);
  lines.push("", "What each pair saw:");
  for (const c of cases) {
    for (const p of pairs) {
      const r = find(c, p);
      if (r && r.outcome !== "not run") lines.push(`- ${c}, ${pairLabel(p)}: ${r.outcome} — ${r.observed}`);
    }
  }
  for (const p of pairs) {
    const notRun = results.filter((r) => r.client === p.client && r.agent === p.agent && r.outcome === "not run");
    for (const reason of new Set(notRun.map((r) => r.observed))) {
      const which =
        notRun.filter((r) => r.observed === reason).length === cases.length
          ? "every case"
          : notRun
              .filter((r) => r.observed === reason)
              .map((r) => r.case)
              .join(", ");
      lines.push(`- ${pairLabel(p)}, ${which}: not run — ${reason}`);
    }
  }
  const diffs = differences(results);
  lines.push("", diffs.length ? "Where the emulated and the real agent differed:" : "Where the emulated and the real agent differed: nowhere both ran.");
  for (const d of diffs) lines.push(`- ${d.case} (${d.client}): emulated ${d.emulated}; real ${d.real}`);
  return lines.join("\n");
}

/** Exit code of the run: 0 only when every case ran for every pair and passed; a case not run is not a pass. */
export function exitCodeOf(cases: string[], results: CaseResult[], pairs: Pair[] = PAIRS): number {
  const passed = (c: string, p: Pair) => results.some((r) => r.case === c && r.client === p.client && r.agent === p.agent && r.outcome === "pass");
  return cases.length > 0 && cases.every((c) => pairs.every((p) => passed(c, p))) ? 0 : 1;
}

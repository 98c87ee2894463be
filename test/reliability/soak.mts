// `make soak`: the reliability suite at soak size — 300 chaos lifecycles (RELIABILITY_LIFECYCLES),
// ten minutes of tunnel integrity, 256 MiB each way through one session (TRANSFER_MIB), the bad-input table, the mutant check and the safety checks —
// then one report of the counts: lifecycles, faults injected by kind, kills by moment, bad inputs
// tried, leaks and secret hits. Exits non-zero when vitest failed or any leak or secret hit was seen.
//   node --import tsx test/reliability/soak.mts [test files…]   (default: all of test/reliability)
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "../e2e/entrypoint-harness.ts";
import { BAD_INPUT_CASES, countCases } from "./bad-input-cases.ts";

const reportDir = mkdtempSync(join(tmpdir(), "bastionless-soak-"));
const started = Date.now();
const env = {
  ...process.env,
  RELIABILITY_SOAK: "1",
  RELIABILITY_LIFECYCLES: process.env.RELIABILITY_LIFECYCLES ?? "300",
  RELIABILITY_TERMINAL_LIFECYCLES: process.env.RELIABILITY_TERMINAL_LIFECYCLES ?? "30",
  RELIABILITY_REPORT_DIR: reportDir,
  // The big transfer at soak size: 256 MiB each way through one session (≈7 min at the agent's pace).
  TRANSFER_MIB: process.env.TRANSFER_MIB ?? "256",
};
console.log(`soak: ${env.RELIABILITY_LIFECYCLES} lifecycles, tunnel integrity at soak size; counts in ${reportDir}`);
const files = process.argv.length > 2 ? process.argv.slice(2) : ["test/reliability", "test/unit/session/transfer.test.ts"];
const vitest = spawn(join(REPO, "node_modules/.bin/vitest"), ["run", ...files], { cwd: REPO, env, stdio: "inherit" });
const code = await new Promise<number>((resolve) => vitest.once("close", (c, signal) => resolve(c ?? (signal ? 128 : 1))));

const reports = Object.fromEntries(
  (existsSync(reportDir) ? readdirSync(reportDir) : [])
    .filter((f) => f.endsWith(".json"))
    .map((f) => [f.replace(/\.json$/, ""), JSON.parse(readFileSync(join(reportDir, f), "utf8"))]),
) as Record<string, any>;
rmSync(reportDir, { recursive: true, force: true });

const chaos = reports.chaos;
const lines: string[] = ["", `soak report (${((Date.now() - started) / 60_000).toFixed(1)} min, vitest exit ${code})`];
const table = (title: string, counts: Record<string, number> | undefined) => {
  lines.push(`  ${title}:`);
  for (const [k, v] of Object.entries(counts ?? {}).sort(([, a], [, b]) => b - a)) lines.push(`    ${String(v).padStart(6)}  ${k}`);
};
if (chaos) {
  lines.push(
    `  lifecycles: ${chaos.lifecycles} (${Object.entries(chaos.byKind)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ")}), failed ${chaos.failed}, leaks ${chaos.leaks}`,
  );
  table("kills and stops, by where they landed", chaos.stops);
  table("what worked on the way", chaos.notes);
  table("faults injected during the lifecycles", chaos.injected);
} else lines.push("  lifecycles: no chaos report (the chaos test did not finish)");
for (const [name, r] of Object.entries(reports).filter(([n]) => n.startsWith("tunnel-integrity"))) {
  lines.push(
    `  ${name}: ${r.streams} streams, ${(r.bytesUp / 1e6).toFixed(0)} MB up, ${(r.bytesDown / 1e6).toFixed(0)} MB down in ${r.seconds.toFixed(0)} s, ${r.reconnects} reconnects; injected ${JSON.stringify(r.injected)}`,
  );
}
const byProgram: Record<string, number> = {};
for (const [key, n] of Object.entries(countCases())) byProgram[key.split("/")[0]] = (byProgram[key.split("/")[0]] ?? 0) + n;
lines.push(
  `  bad inputs tried: ${BAD_INPUT_CASES.length} (${Object.entries(byProgram)
    .map(([k, v]) => `${v} ${k}`)
    .join(", ")})`,
);
const scan = reports["secret-scan"];
lines.push(scan ? `  secret scan: ${scan.captures} captures, ${scan.secrets} issued secrets, ${scan.hits} hits` : "  secret scan: no report");
console.log(lines.join("\n"));

const leaks = chaos?.leaks ?? 0;
const hits = scan?.hits ?? 0;
process.exitCode = code !== 0 || !chaos || leaks > 0 || hits > 0 ? 1 : 0;

// The reliability suite's counts: each test file writes its part to RELIABILITY_REPORT_DIR (when
// set, as `make soak` does) and test/reliability/soak-report.mts prints them together.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function writeReport(name: string, counts: unknown): void {
  const dir = process.env.RELIABILITY_REPORT_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(counts, null, 2) + "\n");
}

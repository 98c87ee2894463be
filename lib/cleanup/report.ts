// What the sweeper prints: the plan as a table, the results, or one JSON document with both.
import { shortId, type Outcome } from "./apply.ts";
import type { Decision } from "./plan.ts";

export function printPlan(actions: Decision[], kept: Decision[]): void {
  const rows = [...actions, ...kept].map((d) => [d.kind, shortId(d), d.env ?? "-", d.region, d.action, d.reason]);
  if (!rows.length) return;
  const header = ["KIND", "ID", "ENV", "REGION", "ACTION", "REASON"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ") + "\n";
  process.stdout.write(line(header) + rows.map(line).join(""));
}

export function printJson(actions: Decision[], kept: Decision[], outcomes: Outcome[], dryRun: boolean): void {
  const count = (list: Decision[], key: "kind" | "action") =>
    list.reduce<Record<string, number>>((acc, d) => ({ ...acc, [d[key]]: (acc[d[key]] ?? 0) + 1 }), {});
  process.stdout.write(
    JSON.stringify({
      dryRun,
      plan: { actions, kept },
      results: outcomes,
      counts: {
        planned: actions.length,
        kept: kept.length,
        byKind: count(actions, "kind"),
        succeeded: outcomes.filter((o) => o.ok).length,
        failed: outcomes.filter((o) => !o.ok).length,
      },
    }) + "\n",
  );
}

/** After applying: the counts, each failure, and what to do about them. */
export function printResults(outcomes: Outcome[]): void {
  const failed = outcomes.filter((o) => !o.ok);
  process.stdout.write(`Done: ${outcomes.length - failed.length} succeeded, ${failed.length} failed.\n`);
  for (const f of failed) process.stdout.write(`  failed: ${f.action} ${f.kind} ${shortId(f)} — ${f.detail}\n`);
  if (failed.length) process.stdout.write("Run cleanup-orphans again to retry what failed.\n");
}

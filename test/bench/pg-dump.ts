// pg_dump -j 8 -Fd of a ≥256 MB database (a small one with --quick) through `portforward --target
// stg-db`, once with --sessions 1 and once with --sessions 8, in one run on the local cloud's strict
// model (the agent's 1 KiB + 1 ms per session, MGS's 1000 messages/s per session) and its real
// Debian PostgreSQL, with the pg_dump of the server's own version. The 8-session dump is then
// restored with pg_restore -j 8 straight into a fresh database on the same server (not through the
// tunnel) and compared with the source, table by table (row count, md5 of the rows in key order):
// the figures are reported only when every table matches.
//   tsx test/bench/pg-dump.ts [--quick]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { freePort, leftovers, NOTHING_LEFT, startPortforward, stateHome } from "../e2e/portforward-harness.ts";
import { run } from "../support/run.ts";
import { compareDigests, createBenchDatabase, psql, serverBinaries, tableDigests, type Server } from "./pg-data.ts";
import { figure, round, series, type Figure } from "./stats.ts";

const MB = 1e6;
const MiB = 1024 * 1024;
const JOBS = 8;
const SOURCE = "dumpsource";
const RESTORED = "dumprestored";

interface Dump {
  sessions: number;
  seconds: number;
  dir: string;
  /** Sessions the local cloud opened for the forward. */
  opened: number;
}

/** One pg_dump -j 8 -Fd through a fresh `portforward --sessions N`; the forward is stopped and checked for leftovers. */
async function dumpThroughTunnel(cloud: LocalCloud, server: Server, user: string, sessions: number, out: string): Promise<Dump> {
  const state = stateHome();
  const localPort = await freePort();
  const before = new Set((await cloud.state()).sessions.map((s) => s.sessionId));
  const forward = startPortforward(
    cloud,
    ["--env", "stg", "--yes", "--json", "--target", "stg-db", "--local-port", String(localPort), "--sessions", String(sessions)],
    { XDG_STATE_HOME: state.dir },
  );
  let result: Dump;
  try {
    await forward.ready;
    const dir = join(out, `sessions-${sessions}`);
    const t0 = performance.now();
    const dump = await run(
      join(server.bin, "pg_dump"),
      ["-h", "127.0.0.1", "-p", String(localPort), "-U", user, "-d", SOURCE, "-j", String(JOBS), "-Fd", "--no-sync", "-f", dir],
      { timeoutMs: 3_600_000 },
    );
    const seconds = (performance.now() - t0) / 1000;
    if (dump.code !== 0)
      throw new Error(
        `pg_dump -j ${JOBS} through portforward --sessions ${sessions} failed (${dump.code ?? dump.signal}): ${dump.stderr.trim().split("\n").slice(-3).join(" ")}`,
      );
    const opened = (await cloud.state()).sessions.filter((s) => !before.has(s.sessionId)).length;
    result = { sessions, seconds, dir, opened };
  } finally {
    forward.interrupt();
    await forward.exited;
    state.remove();
  }
  // Only after a dump that succeeded: a failed one's own error is the one to see.
  const exit = await forward.exited;
  if (exit.code !== 0)
    throw new Error(`portforward --sessions ${sessions} exited ${exit.code ?? exit.signal}: ${forward.stderr().trim().split("\n").slice(-3).join(" ")}`);
  const left = await leftovers(cloud);
  if (JSON.stringify(left) !== JSON.stringify(NOTHING_LEFT))
    throw new Error(`portforward --sessions ${sessions} left something behind: ${JSON.stringify(left)}`);
  return result;
}

export async function runPgDumpBench({ quick }: { quick: boolean }): Promise<Figure[]> {
  const target = (quick ? 32 : 272) * MiB;
  const cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  const out = mkdtempSync(join(tmpdir(), "pg-dump-bench-"));
  try {
    const pg = cloud.postgres!;
    const server: Server = { host: pg.host, port: pg.port, bin: await serverBinaries(pg.host, pg.port) };
    const version = (await run(join(server.bin, "pg_dump"), ["--version"])).stdout.trim();
    const t0 = performance.now();
    const bytes = await createBenchDatabase(server, SOURCE, pg.user, target);
    const generated = (performance.now() - t0) / 1000;
    if (!quick && bytes < 256 * MiB) throw new Error(`the generated database holds ${round(bytes / MiB, 0)} MiB, under 256 MiB`);
    process.stderr.write(`  pg_dump: ${round(bytes / MB, 0)} MB database generated in ${round(generated, 1)} s\n`);
    const source = await tableDigests(server, SOURCE, pg.user);
    const one = await dumpThroughTunnel(cloud, server, pg.user, 1, out);
    process.stderr.write(`  pg_dump: --sessions 1: ${round(one.seconds, 1)} s\n`);
    const eight = await dumpThroughTunnel(cloud, server, pg.user, JOBS, out);
    process.stderr.write(`  pg_dump: --sessions ${JOBS}: ${round(eight.seconds, 1)} s (${eight.opened} sessions opened)\n`);
    // Restored straight into the server (not through the tunnel): what is checked is the dump.
    await psql(server, "postgres", "postgres", `CREATE DATABASE ${RESTORED} OWNER ${pg.user}`);
    const restore = await run(
      join(server.bin, "pg_restore"),
      ["-h", server.host, "-p", String(server.port), "-U", pg.user, "-d", RESTORED, "-j", String(JOBS), "--exit-on-error", eight.dir],
      { timeoutMs: 3_600_000 },
    );
    if (restore.code !== 0) throw new Error(`pg_restore of the ${JOBS}-session dump failed: ${restore.stderr.trim().split("\n").slice(-3).join(" ")}`);
    const problems = compareDigests(source, await tableDigests(server, RESTORED, pg.user));
    if (problems.length) throw new Error(`the ${JOBS}-session dump, restored, differs from the source: ${problems.join("; ")}`);
    const rows = source.reduce((n, t) => n + t.rows, 0);
    const size = `${round(bytes / MB, 0)} MB`;
    const speedup = one.seconds / eight.seconds;
    const title = `pg_dump -j ${JOBS} -Fd of a ${size} database (${source.length} tables, ${rows} rows) through portforward, strict model${quick ? ` — --quick: a ${size} database, not the full run's ≥256 MB` : ""}`;
    return [
      figure({
        id: "pgdump.time",
        title: `${title}: wall time`,
        unit: "s",
        better: "lower",
        measured: series(`--sessions ${JOBS} (${eight.opened} sessions opened)`, [round(eight.seconds, 1)]),
        baselines: [series("--sessions 1", [round(one.seconds, 1)])],
        target: { text: `--sessions ${JOBS} ≥ 4 × faster than --sessions 1 (here × ${round(speedup, 2)})`, met: speedup >= 4 },
        notes: [
          `pg_dump: ${version}, the server's own major version; the database was generated in the server (generate_series) in ${round(generated, 0)} s; size on disk ${size} (pg_database_size, keys included).`,
          `The ${JOBS}-session dump was restored with pg_restore -j ${JOBS} straight into a fresh database on the same server (not through the tunnel): all ${source.length} tables match the source in row count and md5 of their rows in key order (${rows} rows).`,
        ],
      }),
      figure({
        id: "pgdump.speedup",
        title: `${title}: speed-up of --sessions ${JOBS} over --sessions 1`,
        unit: "×",
        better: "higher",
        measured: series(`--sessions 1 time ÷ --sessions ${JOBS} time`, [round(speedup, 2)]),
        baselines: [series("target", [4])],
        target: { text: "≥ 4 ×", met: speedup >= 4 },
      }),
    ];
  } finally {
    await cloud.stop();
    rmSync(out, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await runPgDumpBench({ quick: process.argv.includes("--quick") }), null, 2));
}

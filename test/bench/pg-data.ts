// The database the pg_dump benchmark dumps: eight tables of about equal size and varied types
// (bigint, numeric, timestamptz, jsonb, bytea, uuid, arrays, inet, ranges, point, interval, …) and
// two small ones, generated in the server with generate_series; and the check that a restored copy
// holds the same rows: per table, the row count and the md5 of every row's text in key order.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { run, type RunResult } from "../support/run.ts";

export interface Server {
  host: string;
  port: number;
  /** Debian's binaries of the server's major version (/usr/lib/postgresql/<major>/bin): pg_dump must not be older than the server. */
  bin: string;
}

/** A table: the SELECT list over generate_series(1, n) AS i, and its key. */
interface TableSpec {
  name: string;
  select: string;
  key: string;
}

/** The eight large tables share the size; pg_dump -j 8 gives one to each worker. */
export const LARGE_TABLES: TableSpec[] = [
  {
    name: "orders",
    key: "id",
    select:
      "i::bigint AS id, (i % 50000)::int AS customer_id, timestamptz '2024-01-01 00:00:00+00' + i * interval '17 seconds' AS placed_at, round((random() * 1000)::numeric, 2) AS amount, (ARRAY['new','paid','shipped','returned'])[1 + i % 4] AS status, md5(i::text) AS reference",
  },
  {
    name: "events",
    key: "id",
    select:
      "i::bigint AS id, timestamptz '2025-06-01 00:00:00+00' + i * interval '250 milliseconds' AS at, (i % 7)::smallint AS kind, jsonb_build_object('user', i % 1000, 'path', '/p/' || (i % 97), 'ok', i % 3 = 0, 'ms', (random() * 500)::int) AS payload",
  },
  {
    name: "users",
    key: "id",
    select:
      "i AS id, 'user' || i || '@example.com' AS email, initcap(md5(i::text)) AS name, i % 5 <> 0 AS active, date '2000-01-01' + (i % 9000) AS born, random() AS score",
  },
  {
    name: "blobs",
    key: "id",
    select: "i AS id, decode(md5(i::text) || md5((i + 1)::text) || md5((i + 2)::text), 'hex') AS data, (random() * 1e6)::int AS size",
  },
  {
    name: "measurements",
    key: "id",
    select:
      "i::bigint AS id, (i % 500)::int AS sensor, timestamp '2024-01-01 00:00:00' + i * interval '1 second' AS at, (random() * 100)::real AS value, ARRAY[i % 10, i % 100, i % 1000] AS tags",
  },
  {
    name: "documents",
    key: "id",
    select:
      "md5(i::text)::uuid AS id, md5((i * 7)::text)::uuid AS parent, left(md5((i * 3)::text), 1 + i % 32)::varchar(64) AS label, repeat(chr(97 + i % 26), 20 + i % 40) AS body",
  },
  {
    name: "logs",
    key: "id",
    select:
      "i::bigint AS id, (ARRAY['INFO','WARN','ERROR','DEBUG'])[1 + i % 4] AS level, 'request ' || md5(i::text) || ' took ' || (i % 1000) || ' ms from 10.' || (i % 256) || '.' || (i % 199) || '.7' AS line",
  },
  {
    name: "places",
    key: "id",
    select:
      "i AS id, point(random() * 360 - 180, random() * 180 - 90) AS location, ('10.' || (i % 256) || '.' || (i / 256 % 256) || '.' || (i % 200))::inet AS addr, numrange(i, i + i % 100) AS span, interval '1 minute' * (i % 10000) AS duration",
  },
];

const SMALL_TABLES: Array<TableSpec & { rows: number }> = [
  { name: "settings", key: "name", rows: 20, select: "'setting_' || i AS name, (i * 31)::text AS value, i % 2 = 0 AS secret" },
  { name: "empty_queue", key: "id", rows: 0, select: "i AS id, now() AS queued_at" },
];

export interface TableDigest {
  table: string;
  rows: number;
  md5: string;
}

/** psql on `database` as `user`, without blocking this event loop (the local cloud answers from it). */
export async function psql(server: Server, user: string, database: string, sql: string): Promise<string> {
  const out: RunResult = await run(
    join(server.bin, "psql"),
    ["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", server.host, "-p", String(server.port), "-U", user, "-d", database, "-c", sql],
    { timeoutMs: 600_000 },
  );
  if (out.code !== 0) throw new Error(`psql on ${database} failed (${out.code ?? out.signal}): ${out.stderr.trim()}`);
  return out.stdout.trim();
}

/** Debian's directory of PostgreSQL binaries for the server's major version. */
export async function serverBinaries(host: string, port: number): Promise<string> {
  const major = (await run("psql", ["-X", "-tA", "-h", host, "-p", String(port), "-U", "postgres", "-d", "postgres", "-c", "SHOW server_version_num"])).stdout
    .trim()
    .slice(0, -4);
  const bin = `/usr/lib/postgresql/${major}/bin`;
  if (!major || !existsSync(join(bin, "pg_dump")))
    throw new Error(`PostgreSQL ${major || "?"}'s pg_dump is not in ${bin}: apt-get install postgresql-client-${major}`);
  return bin;
}

/**
 * Creates `database` (owned by `user`) holding about `bytes` on disk, tables and keys included:
 * a 20 000-row sample of each large table says its bytes per row; the tables are then filled
 * two at a time. Resolves with the database's size on disk.
 */
export async function createBenchDatabase(server: Server, database: string, user: string, bytes: number): Promise<number> {
  await psql(server, "postgres", "postgres", `CREATE DATABASE ${database} OWNER ${user}`);
  const q = (sql: string) => psql(server, user, database, sql);
  const create = (t: TableSpec, rows: number, name = t.name) =>
    `CREATE TABLE ${name} AS SELECT ${t.select} FROM generate_series(1, ${rows}) AS i; ALTER TABLE ${name} ADD PRIMARY KEY (${t.key});`;
  const SAMPLE = 20_000;
  const perRow = await Promise.all(
    LARGE_TABLES.map(async (t) => {
      await q(`${create(t, SAMPLE, `sample_${t.name}`)} ANALYZE sample_${t.name};`);
      const size = Number(await q(`SELECT pg_total_relation_size('sample_${t.name}')`));
      await q(`DROP TABLE sample_${t.name}`);
      return size / SAMPLE;
    }),
  );
  const share = bytes / LARGE_TABLES.length;
  const queue = LARGE_TABLES.map((t, i) => () => q(create(t, Math.ceil(share / perRow[i]))));
  await Promise.all(
    [0, 1].map(async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    }),
  );
  for (const t of SMALL_TABLES) await q(create(t, t.rows));
  await q("VACUUM ANALYZE");
  return Number(await q(`SELECT pg_database_size('${database}')`));
}

/** Every table of `database`'s public schema: its row count and the md5 of its rows' text, in key order. */
export async function tableDigests(server: Server, database: string, user: string): Promise<TableDigest[]> {
  const tables = (await psql(server, user, database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"))
    .split("\n")
    .filter(Boolean);
  const keys = new Map([...LARGE_TABLES, ...SMALL_TABLES].map((t) => [t.name, t.key]));
  return Promise.all(
    tables.map(async (table) => {
      const key = keys.get(table) ?? "1";
      const [rows, md5] = (
        await psql(
          server,
          user,
          database,
          `SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY t.${key === "1" ? "ctid" : key})), '') FROM ${table} t`,
        )
      ).split("|");
      return { table, rows: Number(rows), md5 };
    }),
  );
}

/** What differs between the source's tables and a restored copy's; empty when every table matches. */
export function compareDigests(source: TableDigest[], restored: TableDigest[]): string[] {
  const copy = new Map(restored.map((d) => [d.table, d]));
  const problems: string[] = [];
  for (const s of source) {
    const r = copy.get(s.table);
    if (!r) problems.push(`${s.table}: missing from the restored database`);
    else if (r.rows !== s.rows) problems.push(`${s.table}: ${r.rows} rows restored, ${s.rows} in the source`);
    else if (r.md5 !== s.md5) problems.push(`${s.table}: same ${s.rows} rows counted, but their md5 differs (${r.md5} restored, ${s.md5} in the source)`);
    copy.delete(s.table);
  }
  for (const extra of copy.keys()) problems.push(`${extra}: in the restored database only`);
  return problems;
}

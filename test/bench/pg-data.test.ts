// The pg_dump benchmark counts its figure only when the restored copy matches the source: this
// proves the check sees a changed value, a lost row and a lost table, on a real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type Postgres } from "../localcloud/index.ts";
import { compareDigests, createBenchDatabase, LARGE_TABLES, psql, serverBinaries, tableDigests, type Server } from "./pg-data.ts";

let pg: Postgres;
let server: Server;

beforeAll(async () => {
  pg = await startPostgres();
  server = { host: pg.host, port: pg.port, bin: await serverBinaries(pg.host, pg.port) };
}, 120_000);
afterAll(async () => {
  await pg?.stop();
});

describe("the pg_dump benchmark's database and its check", () => {
  it("generates every table, and tells a faithful copy from one with a changed value, a lost row or a lost table", async () => {
    const bytes = await createBenchDatabase(server, "source", pg.user, 4 * 1024 * 1024);
    expect(bytes).toBeGreaterThan(4 * 1024 * 1024);
    const source = await tableDigests(server, "source", pg.user);
    expect(source.map((d) => d.table)).toEqual([...LARGE_TABLES.map((t) => t.name), "settings", "empty_queue"].sort());
    expect(source.filter((d) => LARGE_TABLES.some((t) => t.name === d.table)).every((d) => d.rows > 1000)).toBe(true);

    await psql(server, "postgres", "postgres", `CREATE DATABASE copy TEMPLATE source OWNER ${pg.user}`);
    expect(compareDigests(source, await tableDigests(server, "copy", pg.user))).toEqual([]);

    const orders = source.find((d) => d.table === "orders")!;
    const logs = source.find((d) => d.table === "logs")!;
    await psql(server, pg.user, "copy", "UPDATE orders SET amount = amount + 0.01 WHERE id = 7; DELETE FROM logs WHERE id = 3; DROP TABLE settings;");
    const copy = await tableDigests(server, "copy", pg.user);
    expect(compareDigests(source, copy)).toEqual([
      `logs: ${logs.rows - 1} rows restored, ${logs.rows} in the source`,
      `orders: same ${orders.rows} rows counted, but their md5 differs (${copy.find((d) => d.table === "orders")!.md5} restored, ${orders.md5} in the source)`,
      "settings: missing from the restored database",
    ]);
  }, 120_000);

  it("names a table that only the copy has", () => {
    const a = { table: "a", rows: 1, md5: "x" };
    expect(compareDigests([a], [a, { table: "b", rows: 0, md5: "" }])).toEqual(["b: in the restored database only"]);
  });
});

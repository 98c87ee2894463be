import { execFile } from "node:child_process";
import { once } from "node:events";
import { type AddressInfo, createServer, type Server } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PortFlag } from "../../../lib/session/frames.ts";
import type { SessionDriver } from "./driver.ts";
import { type Harness, portSpec, startHarness } from "./harness.ts";
import { type Postgres, startPostgres } from "../postgres.ts";

const run = promisify(execFile);
let harness: Harness;
let pg: Postgres;
const listeners: Server[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  // The demo world's way: an Aurora endpoint that the host map sends to the local PostgreSQL.
  harness = await startHarness({
    resolveHost: (host, port) => (host.endsWith(".rds.amazonaws.com") ? { host: "127.0.0.1", port: pg.port } : { host, port }),
  });
}, 120_000);

afterAll(async () => {
  for (const server of listeners) server.close();
  await harness?.close();
  await pg?.stop();
});

/** What the plugin does with a local port: mux → a stream per connection; basic → one at a time + DisconnectToPort. */
async function listenLocally(driver: SessionDriver): Promise<number> {
  const server = createServer((socket) => {
    if (driver.mode === "mux") {
      const stream = driver.openStream();
      socket.pipe(stream).pipe(socket);
      socket.on("error", () => stream.destroy());
    } else {
      socket.pipe(driver.bytes, { end: false });
      driver.bytes.pipe(socket);
      socket.on("close", () => {
        driver.bytes.unpipe(socket);
        driver.sendFlag(PortFlag.DisconnectToPort);
      });
    }
  });
  listeners.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

async function psql(port: number, sql: string): Promise<string> {
  const { stdout } = await run("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", pg.user, "-d", pg.database, "-Atc", sql], {
    env: { ...process.env, PGCONNECT_TIMEOUT: "20" },
    timeout: 60_000,
  });
  return stdout.trim();
}

const remoteHost = { documentName: "AWS-StartPortForwardingSessionToRemoteHost", host: "demo-stg.cluster-abc.ap-northeast-1.rds.amazonaws.com" };

describe("a real PostgreSQL through a port session", () => {
  it("answers a query through mux mode, twice over separate connections", async () => {
    const driver = await harness.connect(portSpec(5432, remoteHost));
    expect(await driver.ready).toBe("mux");
    const local = await listenLocally(driver);
    expect(await psql(local, "select 6 * 7")).toBe("42");
    expect(await psql(local, "select current_user || '@' || host(inet_server_addr())")).toBe(`${pg.user}@127.0.0.1`);
  }, 120_000);

  it("answers a query through basic mode, reconnecting after DisconnectToPort", async () => {
    const driver = await harness.connect(portSpec(5432, { ...remoteHost, agentVersion: "3.0.161.0" }), { clientVersion: "1.1.61.0" });
    expect(await driver.ready).toBe("basic");
    const local = await listenLocally(driver);
    expect(await psql(local, "select 'basic ' || 6 * 7")).toBe("basic 42");
    expect(await psql(local, "select 'again ' || 7 * 6")).toBe("again 42");
  }, 120_000);
});

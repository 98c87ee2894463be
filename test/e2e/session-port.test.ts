// The native client's port forwarding against the local cloud: a stg-bastion task with ECS Exec is
// the target, the stg-db Aurora endpoint the host; a real psql runs a query through the forwarded
// port in mux mode, in basic mode (the agent on that target is one without mux, the ClientVersion
// current), and through two forwards opened in one call. No TokenValue reaches any output.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ECSClient } from "@aws-sdk/client-ecs";
import { KMSClient } from "@aws-sdk/client-kms";
import { DescribeDBClustersCommand, RDSClient } from "@aws-sdk/client-rds";
import { SSMClient } from "@aws-sdk/client-ssm";
import { createLogger } from "../../lib/log.ts";
import { CLIENT_VERSION, startPortForward, type PortForward } from "../../lib/session/index.ts";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "../support/clients.ts";
import { eventually } from "../support/eventually.ts";
import { type BastionTask, runBastionTask } from "../support/bastion.ts";
import { run } from "../support/run.ts";

let cloud: LocalCloud;
let clients: { ssm: SSMClient; ecs: ECSClient; kms: KMSClient };
let rds: RDSClient;
let bastion: BastionTask;
let db: { writer: string; reader: string };
/** Every TokenValue StartSession/ResumeSession handed out in this file. */
const tokens: string[] = [];
/** Everything the runs printed: the client's debug log and psql's stdout/stderr. */
const outputs: string[] = [];
const log = createLogger({ format: "human", debug: true, write: (line) => void outputs.push(line) });
const forwards: PortForward[] = [];

const QUERY = "SELECT id, env, message FROM greetings ORDER BY id";

/** psql as an operator runs it; async, the cloud in this process must keep answering. */
async function psql(host: string, port: number, sql: string): Promise<string> {
  const { code, stdout, stderr } = await run(
    "psql",
    ["-h", host, "-p", String(port), "-U", cloud.postgres!.user, "-d", cloud.postgres!.database, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
    { env: { PGCONNECT_TIMEOUT: "20" } },
  );
  if (code !== 0) throw new Error(`psql exited ${code}: ${stderr.trim()}`);
  outputs.push(stdout, stderr);
  return stdout;
}

async function forward(targets: { host: string }[]): Promise<PortForward> {
  const fwd = await startPortForward({
    clients,
    region: cloud.region,
    client: "native",
    log,
    target: bastion.target,
    forwards: targets.map(({ host }) => ({ localPort: 0, host, remotePort: 5432 })),
  });
  forwards.push(fwd);
  await fwd.ready;
  return fwd;
}

/** The data plane's view of the sessions on our target that are still open. */
async function liveSessions() {
  const state = await cloud.state();
  return state.sessions.filter((s) => s.target === bastion.target && s.status !== "Terminated");
}

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  clients = { ssm: new SSMClient(cloudConfig(cloud)), ecs: new ECSClient(cloudConfig(cloud)), kms: new KMSClient(cloudConfig(cloud)) };
  clients.ssm.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const token = (result.output as { TokenValue?: string }).TokenValue;
      if (token) tokens.push(token);
      return result;
    },
    { step: "initialize", name: "recordTokens" },
  );
  rds = new RDSClient(cloudConfig(cloud));
  const clusters = await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: "stg-db" }));
  db = { writer: clusters.DBClusters![0].Endpoint!, reader: clusters.DBClusters![0].ReaderEndpoint! };
  bastion = await runBastionTask(clients.ecs, "stg-main");
}, 120_000);

afterAll(async () => {
  await Promise.all(forwards.map((f) => f.stop()));
  for (const c of [clients?.ssm, clients?.ecs, clients?.kms, rds]) c?.destroy();
  await cloud?.stop();
});

describe("native port forwarding to the Aurora endpoint through an ECS task", () => {
  let expected: string;

  it("runs psql through the forwarded port in mux mode; stop() ends the session", async () => {
    expected = await psql(cloud.postgres!.host, cloud.postgres!.port, QUERY);
    expect(expected.trim().split("\n").length).toBeGreaterThanOrEqual(2);
    const fwd = await forward([{ host: db.writer }]);
    expect(fwd.client).toBe("native");
    expect(await psql("127.0.0.1", fwd.ports[0], QUERY)).toBe(expected);
    expect(await psql("127.0.0.1", fwd.ports[0], "SELECT 6 * 7, current_user, current_database(), inet_server_addr() IS NOT NULL")).toBe("42|app|app|t\n");
    const [session] = await liveSessions();
    expect(session).toMatchObject({
      documentName: "AWS-StartPortForwardingSessionToRemoteHost",
      kind: "port",
      dataPlane: { mode: "mux", agentVersion: "3.3.1142.0", clientVersion: CLIENT_VERSION },
    });
    expect(session.dataPlane!.bytesIn).toBeGreaterThan(0);
    await fwd.stop();
    await eventually(async () => ((await liveSessions()).length === 0 ? true : undefined), 10_000, "the session to end");
  }, 120_000);

  it("uses basic mode when the agent on the target predates mux, with a current ClientVersion", async () => {
    await cloud.setFaults({ dataChannel: { agentVersions: { [bastion.target]: "3.0.196.0" } } });
    try {
      const fwd = await forward([{ host: db.writer }]);
      const [session] = await liveSessions();
      expect(session.dataPlane).toMatchObject({ mode: "basic", agentVersion: "3.0.196.0", clientVersion: CLIENT_VERSION });
      // One connection at a time: the second psql reaches the database after DisconnectToPort.
      expect(await psql("127.0.0.1", fwd.ports[0], QUERY)).toBe(expected);
      expect(await psql("127.0.0.1", fwd.ports[0], "SELECT count(*) FROM greetings")).toBe(`${expected.trim().split("\n").length}\n`);
      await fwd.stop();
    } finally {
      await cloud.setFaults({});
    }
  }, 120_000);

  it("opens two forwards in one call, one session each, both carrying psql at the same time", async () => {
    const fwd = await forward([{ host: db.writer }, { host: db.reader }]);
    expect(fwd.ports).toHaveLength(2);
    expect(fwd.ports[0]).not.toBe(fwd.ports[1]);
    const sessions = await liveSessions();
    expect(sessions).toHaveLength(2);
    expect(sessions.map((s) => s.dataPlane?.mode)).toEqual(["mux", "mux"]);
    const [viaWriter, viaReader] = await Promise.all(fwd.ports.map((port) => psql("127.0.0.1", port, QUERY)));
    expect(viaWriter).toBe(expected);
    expect(viaReader).toBe(expected);
    await fwd.stop();
  }, 120_000);

  it("printed no TokenValue anywhere: not in the debug log, not in psql's output", () => {
    // mux, basic, two forwards: four sessions, each with its own token.
    expect(tokens).toHaveLength(4);
    expect(outputs.some((o) => o.startsWith("debug: "))).toBe(true);
    const all = outputs.join("");
    for (const token of tokens) expect(all.includes(token)).toBe(false);
  });
});

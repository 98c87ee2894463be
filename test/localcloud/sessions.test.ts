// The gateway and the data plane together: sessions started through the SDK carry real bytes —
// ECS Exec in a simulated container, a port session from a bastion to the "Aurora" endpoint
// (the local PostgreSQL), and a shell on a managed instance in its agent's environment.
import { DescribeDBClustersCommand, RDSClient } from "@aws-sdk/client-rds";
import { DescribeTasksCommand, ECSClient, ExecuteCommandCommand } from "@aws-sdk/client-ecs";
import {
  CreateActivationCommand,
  DeregisterManagedInstanceCommand,
  DescribeSessionsCommand,
  SSMClient,
  StartSessionCommand,
  TerminateSessionCommand,
} from "@aws-sdk/client-ssm";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SessionDriver } from "./dataplane/driver.ts";
import { readAll, readUntil } from "./dataplane/harness.ts";
import { startLocalCloud, type LocalCloud } from "./index.ts";
import { AGENT_BIN, run, sdkConfig, startAgent, waitFor } from "./test-helpers.ts";
import { startBastion } from "../support/bastion.ts";

let cloud: LocalCloud;
let ecs: ECSClient;
let ssm: SSMClient;
let dir: string;
const drivers: SessionDriver[] = [];

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 0, pendingMs: 0 } });
  ecs = new ECSClient(sdkConfig(cloud));
  ssm = new SSMClient(sdkConfig(cloud));
  dir = mkdtempSync(join(tmpdir(), "localcloud-sessions-test-"));
}, 120_000);

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close().catch(() => {})));
  ecs?.destroy();
  ssm?.destroy();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function connect(sessionId: string, streamUrl: string, tokenValue: string) {
  const d = await SessionDriver.connect({ sessionId, streamUrl, tokenValue });
  drivers.push(d);
  return d;
}

async function appTask() {
  const t = (await cloud.state()).tasks.find((x) => x.group === "service:stg-app")!;
  await waitFor("the app task RUNNING", async () => (await cloud.state()).tasks.find((x) => x.taskArn === t.taskArn)?.containers[0].alive);
  const described = (await ecs.send(new DescribeTasksCommand({ cluster: "stg-main", tasks: [t.taskArn] }))).tasks![0];
  return { ...t, runtimeId: described.containers![0].runtimeId! };
}

it("ECS Exec runs the command in the container's env and cwd", async () => {
  const t = await appTask();
  const out = await ecs.send(new ExecuteCommandCommand({ cluster: "stg-main", task: t.taskArn, command: "echo env=$APP_ENV cwd=$(pwd)", interactive: true }));
  const d = await connect(out.session!.sessionId!, out.session!.streamUrl!, out.session!.tokenValue!);
  expect(await d.ready).toBe("shell");
  expect((await readAll(d.bytes)).toString()).toBe(`env=stg cwd=${t.containers[0].dir}\r\n`);
  await waitFor("Terminated", async () => {
    const h = await ssm.send(new DescribeSessionsCommand({ State: "History", Filters: [{ key: "SessionId", value: out.session!.sessionId! }] }));
    return h.Sessions![0]?.Status === "Terminated";
  });
}, 60_000);

it("a port session through a task to the stg-db endpoint reaches the real PostgreSQL", async () => {
  const t = await appTask();
  const rds = new RDSClient(sdkConfig(cloud));
  const endpoint = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: "stg-db" }))).DBClusters![0].Endpoint!;
  rds.destroy();
  const s = await ssm.send(
    new StartSessionCommand({
      Target: `ecs:stg-main_${t.taskId}_${t.runtimeId}`,
      DocumentName: "AWS-StartPortForwardingSessionToRemoteHost",
      Parameters: { host: [endpoint], portNumber: ["5432"], localPortNumber: ["15432"] },
    }),
  );
  const d = await connect(s.SessionId!, s.StreamUrl!, s.TokenValue!);
  expect(await d.ready).toBe("mux");
  const active = await ssm.send(new DescribeSessionsCommand({ State: "Active", Filters: [{ key: "SessionId", value: s.SessionId! }] }));
  expect(active.Sessions![0]).toMatchObject({ Status: "Connected", Target: `ecs:stg-main_${t.taskId}_${t.runtimeId}` });
  // PostgreSQL's SSLRequest: a server without SSL answers the single byte "N".
  const stream = d.openStream();
  stream.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
  const answer = await new Promise<Buffer>((resolve) => stream.once("data", resolve));
  expect(answer.toString()).toBe("N");
  stream.destroy();
  await ssm.send(new TerminateSessionCommand({ SessionId: s.SessionId }));
  await d.closed;
  const history = await ssm.send(new DescribeSessionsCommand({ State: "History", Filters: [{ key: "SessionId", value: s.SessionId! }] }));
  expect(history.Sessions![0].Status).toBe("Terminated");
}, 60_000);

it("a shell on a managed instance runs in the environment its agent reported", async () => {
  const a = await ssm.send(new CreateActivationCommand({ IamRole: "bastionless-ssm-managed-instance" }));
  const file = join(dir, "registration");
  const reg = await run(AGENT_BIN, ["-register", "-code", a.ActivationCode!, "-id", a.ActivationId!, "-region", cloud.region, "-y"], {
    ...cloud.env,
    SSM_REGISTRATION_FILE: file,
  });
  const id = /mi-[0-9a-f]{17}/.exec(reg.stdout)![0];
  const agent = startAgent({ ...cloud.env, SSM_REGISTRATION_FILE: file, FROM_THE_AGENT: "yes" });
  try {
    await waitFor("the first heartbeat", async () => (await cloud.state()).instances.find((i) => i.instanceId === id)?.agentPid === agent.pid);
    const s = await ssm.send(new StartSessionCommand({ Target: id }));
    const d = await connect(s.SessionId!, s.StreamUrl!, s.TokenValue!);
    expect(await d.ready).toBe("shell");
    d.bytes.write("echo agent-env=$FROM_THE_AGENT\r");
    expect(await readUntil(d.bytes, /agent-env=yes\r\n/, 15_000)).toContain("agent-env=yes");
    await ssm.send(new TerminateSessionCommand({ SessionId: s.SessionId }));
    await d.closed;
  } finally {
    agent.kill("SIGKILL");
  }
}, 60_000);

it("a session ends when the agent behind its target goes: the task stops, the instance is deregistered", async () => {
  const bastion = await startBastion(cloud);
  const s = await ssm.send(
    new StartSessionCommand({ Target: bastion.target, DocumentName: "AWS-StartPortForwardingSession", Parameters: { portNumber: ["5432"] } }),
  );
  const d = await connect(s.SessionId!, s.StreamUrl!, s.TokenValue!);
  expect(await d.ready).toBe("mux");
  await bastion.stop();
  await d.closed;
  await waitFor("the port session Terminated", async () => (await cloud.state()).sessions.find((x) => x.sessionId === s.SessionId)?.status === "Terminated");

  const a = await ssm.send(new CreateActivationCommand({ IamRole: "bastionless-ssm-managed-instance" }));
  const file = join(dir, "registration-2");
  const reg = await run(AGENT_BIN, ["-register", "-code", a.ActivationCode!, "-id", a.ActivationId!, "-region", cloud.region, "-y"], {
    ...cloud.env,
    SSM_REGISTRATION_FILE: file,
  });
  const id = /mi-[0-9a-f]{17}/.exec(reg.stdout)![0];
  const agent = startAgent({ ...cloud.env, SSM_REGISTRATION_FILE: file });
  try {
    await waitFor("the first heartbeat", async () => (await cloud.state()).instances.find((i) => i.instanceId === id)?.agentPid === agent.pid);
    const shell = await ssm.send(new StartSessionCommand({ Target: id }));
    const sd = await connect(shell.SessionId!, shell.StreamUrl!, shell.TokenValue!);
    expect(await sd.ready).toBe("shell");
    await ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: id }));
    await sd.closed;
    const after = (await cloud.state()).sessions.find((x) => x.sessionId === shell.SessionId);
    expect(after?.status).toBe("Terminated");
    expect(after?.endDate).toBeDefined();
  } finally {
    agent.kill("SIGKILL");
  }
}, 60_000);

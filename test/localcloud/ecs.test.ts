// ECS on the demo world through SDK v3: the task lifecycle, simulated containers as real
// processes, StopTask and stopTimeout, ExecuteCommand, the metadata endpoint; RDS and PostgreSQL.
import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ExecuteCommandCommand,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  waitUntilTasksRunning,
  waitUntilTasksStopped,
  type NetworkConfiguration,
} from "@aws-sdk/client-ecs";
import { DescribeDBClustersCommand, RDSClient } from "@aws-sdk/client-rds";
import { SSMClient, StartSessionCommand } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCloud, type LocalCloud } from "./index.ts";
import { isProcessAlive, run, sdkConfig, waitFor } from "./test-helpers.ts";

let cloud: LocalCloud;
let ecs: ECSClient;
let network: NetworkConfiguration;

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 1500, pendingMs: 1000 }, stopTimeoutMs: 1500 });
  ecs = new ECSClient(sdkConfig(cloud));
  network = (await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }))).services![0].networkConfiguration!;
}, 120_000);

afterAll(async () => {
  ecs?.destroy();
  await cloud?.stop();
});

async function runTask(family: string, command?: string[], env: Record<string, string> = {}, exec = true) {
  const out = await ecs.send(
    new RunTaskCommand({
      cluster: "stg-main",
      taskDefinition: family,
      launchType: "FARGATE",
      networkConfiguration: network,
      enableExecuteCommand: exec,
      startedBy: "bastionless:test",
      overrides:
        command || Object.keys(env).length
          ? {
              containerOverrides: [
                { name: family.endsWith("bastion") ? "bastion" : "app", command, environment: Object.entries(env).map(([name, value]) => ({ name, value })) },
              ],
            }
          : undefined,
    }),
  );
  expect(out.failures).toEqual([]);
  return out.tasks![0];
}

const describeTask = async (arn: string) => (await ecs.send(new DescribeTasksCommand({ cluster: "stg-main", tasks: [arn] }))).tasks![0];

describe("the task lifecycle", () => {
  it("goes PROVISIONING → PENDING → RUNNING, runs stg-bastion as a real process, and StopTask ends it", async () => {
    const t = await runTask("stg-bastion", ["localcloud-app"]);
    expect(t.lastStatus).toBe("PROVISIONING");
    expect(t.enableExecuteCommand).toBe(true);
    const early = (await cloud.state()).tasks.find((x) => x.taskArn === t.taskArn)!;
    expect(early).toMatchObject({ lastStatus: "PROVISIONING", desiredStatus: "RUNNING", startedBy: "bastionless:test" });
    expect(early.containers[0]).toMatchObject({ alive: false, pid: undefined });
    const seen: string[] = [];
    await waitFor("RUNNING", async () => {
      const s = (await describeTask(t.taskArn!)).lastStatus!;
      if (seen.at(-1) !== s) seen.push(s);
      return s === "RUNNING";
    });
    expect(seen).toEqual(["PROVISIONING", "PENDING", "RUNNING"]);
    const running = await describeTask(t.taskArn!);
    const taskId = t.taskArn!.split("/").pop()!;
    expect(running.containers![0].runtimeId).toMatch(new RegExp(`^${taskId}-\\d{10}$`));
    expect(running.containers![0].taskArn).toBe(t.taskArn);
    expect(running.containers![0].lastStatus).toBe("RUNNING");
    expect(running.containers![0].managedAgents).toEqual([expect.objectContaining({ name: "ExecuteCommandAgent", lastStatus: "RUNNING" })]);
    expect(running.startedAt).toBeInstanceOf(Date);
    expect(running.platformVersion).toBe("1.4.0");

    const state = await cloud.state();
    const task = state.tasks.find((x) => x.taskArn === t.taskArn)!;
    expect(task.lastStatus).toBe("RUNNING");
    const pid = task.containers[0].pid!;
    expect(isProcessAlive(pid)).toBe(true);
    expect(task.containers[0].argv!.at(-1)).toBe("localcloud-app");

    // The ECS metadata endpoint v4, as the container sees it.
    const meta = await (await fetch(`${cloud.endpoint}/v4/${taskId}/bastion/task`)).json();
    expect(meta).toMatchObject({ TaskARN: t.taskArn, Family: "stg-bastion", Cluster: running.clusterArn, KnownStatus: "RUNNING" });

    const stopStarted = Date.now();
    const stopped = await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: t.taskArn, reason: "test done" }));
    expect(stopped.task!.desiredStatus).toBe("STOPPED");
    await waitUntilTasksStopped({ client: ecs, maxWaitTime: 30, minDelay: 1 }, { cluster: "stg-main", tasks: [t.taskArn!] });
    expect(Date.now() - stopStarted).toBeLessThan(1500 + 6000);
    const after = await describeTask(t.taskArn!);
    expect(after).toMatchObject({ lastStatus: "STOPPED", desiredStatus: "STOPPED", stopCode: "UserInitiated", stoppedReason: "test done" });
    expect(after.stoppedAt).toBeInstanceOf(Date);
    expect(isProcessAlive(pid)).toBe(false);
    expect((await cloud.state()).tasks.find((x) => x.taskArn === t.taskArn)).toMatchObject({ lastStatus: "STOPPED", stopCode: "UserInitiated" });
  });

  it("SIGKILLs a container that ignores SIGTERM after stopTimeout", async () => {
    const t = await runTask("stg-app", undefined, { LOCALCLOUD_APP_IGNORE_SIGTERM: "true" });
    await waitUntilTasksRunning({ client: ecs, maxWaitTime: 30, minDelay: 1 }, { cluster: "stg-main", tasks: [t.taskArn!] });
    await waitFor("process up", async () => (await cloud.state()).tasks.find((x) => x.taskArn === t.taskArn)?.containers[0].alive);
    await new Promise((r) => setTimeout(r, 300)); // let the stand-in install its SIGTERM handler
    const started = Date.now();
    await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: t.taskArn }));
    await waitFor("STOPPED", async () => (await describeTask(t.taskArn!)).lastStatus === "STOPPED", 20_000, 50);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(8000);
    const after = await describeTask(t.taskArn!);
    expect(after.containers![0].exitCode).toBe(137);
    expect(after.stoppedReason).toBe("Task stopped by user");
  });

  it("stops a task whose process exits with EssentialContainerExited", async () => {
    const t = await runTask("stg-app", ["node", "-e", "setTimeout(() => process.exit(3), 200)"]);
    await waitFor("STOPPED", async () => (await describeTask(t.taskArn!)).lastStatus === "STOPPED", 20_000);
    const after = await describeTask(t.taskArn!);
    expect(after).toMatchObject({ stopCode: "EssentialContainerExited", stoppedReason: "Essential container in task exited", desiredStatus: "STOPPED" });
    expect(after.containers![0].exitCode).toBe(3);
  });

  it("reports unknown tasks as MISSING and lists like AWS", async () => {
    const missing = "0123456789abcdef0123456789abcdef";
    const out = await ecs.send(new DescribeTasksCommand({ cluster: "stg-main", tasks: [missing] }));
    expect(out.tasks).toEqual([]);
    expect(out.failures).toEqual([{ arn: `arn:aws:ecs:ap-northeast-1:123456789012:task/stg-main/${missing}`, reason: "MISSING" }]);
    const state = await cloud.state();
    const service = state.tasks.find((x) => x.group === "service:stg-app")!;
    expect((await ecs.send(new ListTasksCommand({ cluster: "stg-main", serviceName: "stg-app" }))).taskArns).toEqual([service.taskArn]);
    const running = (await ecs.send(new ListTasksCommand({ cluster: "stg-main" }))).taskArns!;
    const stoppedArns = state.tasks.filter((x) => x.cluster === "stg-main" && x.desiredStatus === "STOPPED").map((x) => x.taskArn);
    expect(stoppedArns.length).toBeGreaterThan(0);
    for (const arn of stoppedArns) expect(running).not.toContain(arn);
    expect(running).toContain(service.taskArn);
    expect((await ecs.send(new ListTasksCommand({ cluster: "prod-main" }))).taskArns!.every((a) => a.includes("/prod-main/"))).toBe(true);
  });
});

describe("ECS Exec and sessions on ecs: targets", () => {
  it("ExecuteCommand answers session{sessionId,streamUrl,tokenValue}; a task without exec is not connected", async () => {
    const t = await runTask("stg-app");
    await waitUntilTasksRunning({ client: ecs, maxWaitTime: 30, minDelay: 1 }, { cluster: "stg-main", tasks: [t.taskArn!] });
    const out = await ecs.send(new ExecuteCommandCommand({ cluster: "stg-main", task: t.taskArn, command: "/bin/sh", interactive: true }));
    expect(out).toMatchObject({ clusterArn: t.clusterArn, taskArn: t.taskArn, containerName: "app", interactive: true });
    expect(out.session!.sessionId).toMatch(/^ecs-execute-command-[0-9a-f]{17}$/);
    expect(out.session!.streamUrl).toContain(`/v1/data-channel/${out.session!.sessionId}`);
    expect(out.session!.tokenValue).toBeTruthy();
    const runtimeId = (await describeTask(t.taskArn!)).containers![0].runtimeId;
    const ssm = new SSMClient(sdkConfig(cloud));
    try {
      const s = await ssm.send(
        new StartSessionCommand({
          Target: `ecs:stg-main_${t.taskArn!.split("/").pop()}_${runtimeId}`,
          DocumentName: "AWS-StartPortForwardingSessionToRemoteHost",
          Parameters: { host: ["stg-db.cluster-x.ap-northeast-1.rds.amazonaws.com"], portNumber: ["5432"], localPortNumber: ["0"] },
        }),
      );
      expect(s.SessionId).toBeTruthy();
    } finally {
      ssm.destroy();
    }
    await expect(ecs.send(new ExecuteCommandCommand({ cluster: "stg-main", task: t.taskArn, command: "sh", interactive: false }))).rejects.toMatchObject({
      name: "InvalidParameterException",
    });
    await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: t.taskArn }));

    const noExec = await runTask("stg-app", undefined, {}, false);
    await waitUntilTasksRunning({ client: ecs, maxWaitTime: 30, minDelay: 1 }, { cluster: "stg-main", tasks: [noExec.taskArn!] });
    expect((await describeTask(noExec.taskArn!)).containers![0].managedAgents).toBeUndefined();
    await expect(ecs.send(new ExecuteCommandCommand({ cluster: "stg-main", task: noExec.taskArn, command: "sh", interactive: true }))).rejects.toMatchObject({
      name: "TargetNotConnectedException",
    });
    await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: noExec.taskArn }));
  });
});

describe("the demo world's databases", () => {
  it("has aurora-postgresql clusters stg-db and prod-db and a real seeded PostgreSQL", async () => {
    const rds = new RDSClient(sdkConfig(cloud));
    try {
      const clusters = (await rds.send(new DescribeDBClustersCommand({}))).DBClusters!;
      expect(clusters.map((c) => [c.DBClusterIdentifier, c.Engine, c.Port, c.Status])).toEqual([
        ["stg-db", "aurora-postgresql", 5432, "available"],
        ["prod-db", "aurora-postgresql", 5432, "available"],
      ]);
      expect(clusters[0].Endpoint).toMatch(/^stg-db\.cluster-[a-z0-9]{12}\.ap-northeast-1\.rds\.amazonaws\.com$/);
    } finally {
      rds.destroy();
    }
    const out = await run("psql", ["-X", "-At", cloud.postgres!.url, "-c", "SELECT message FROM greetings WHERE env = 'stg'"], {});
    expect(out.stdout.trim()).toBe("hello from the staging database");
  });
});

// Last in the file: it moves the shared clock 13 hours on.
describe("a clock jump", () => {
  it("a task due to start before the jump reports its start from before it, not from when it was next looked at", async () => {
    const t = await runTask("stg-app", ["sleep", "600"]);
    const due = t.createdAt!.getTime() + 2500;
    await cloud.advanceClock(13 * 3_600_000);
    const started = await describeTask(t.taskArn!);
    expect(started.lastStatus).toBe("RUNNING");
    expect(Math.abs(started.startedAt!.getTime() - due)).toBeLessThan(2000);
    await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: t.taskArn }));
  });
});

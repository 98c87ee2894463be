// Start/stop hygiene and isolation: 20 cycles leave nothing behind; two clouds at once share
// nothing; reset returns to the starting world.
import { DescribeSubnetsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { CreateClusterCommand, ECSClient, ListClustersCommand, RegisterTaskDefinitionCommand, RunTaskCommand } from "@aws-sdk/client-ecs";
import { CreateActivationCommand, DescribeActivationsCommand, SSMClient } from "@aws-sdk/client-ssm";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { childrenOf, pidsRunning } from "../support/processes.ts";
import { startLocalCloud, type LocalCloud } from "./index.ts";
import { isProcessAlive, sdkConfig, waitFor } from "./test-helpers.ts";

async function runStandIn(cloud: LocalCloud): Promise<number> {
  const ec2 = new EC2Client(sdkConfig(cloud));
  const ecs = new ECSClient(sdkConfig(cloud));
  try {
    const subnet = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets![0].SubnetId!;
    await ecs.send(new CreateClusterCommand({ clusterName: "cycle-main" }));
    await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: "cycle-app",
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: "256",
        memory: "512",
        containerDefinitions: [{ name: "app", image: "localcloud/app" }],
      }),
    );
    await ecs.send(
      new RunTaskCommand({
        cluster: "cycle-main",
        taskDefinition: "cycle-app",
        launchType: "FARGATE",
        networkConfiguration: { awsvpcConfiguration: { subnets: [subnet] } },
      }),
    );
    return await waitFor("the container process", async () => (await cloud.state()).tasks[0]?.containers[0].pid, 20_000);
  } finally {
    ec2.destroy();
    ecs.destroy();
  }
}

it("20 start/stop cycles leave no process and no temp directory behind", async () => {
  for (let i = 0; i < 20; i++) {
    const withPostgres = i % 10 === 0;
    const cloud = await startLocalCloud({ taskDelays: { provisioningMs: 0, pendingMs: 0 }, postgres: withPostgres });
    const containerPid = i % 5 === 0 ? await runStandIn(cloud) : undefined;
    await cloud.stop();
    expect(isProcessAlive(cloud.motoPid)).toBe(false);
    expect(existsSync(cloud.tmpDir)).toBe(false);
    if (containerPid) expect(isProcessAlive(containerPid)).toBe(false);
    expect(pidsRunning(cloud.tmpDir)).toEqual([]); // the watchdog went too
    if (withPostgres) expect(pidsRunning(`-p ${cloud.postgres!.port} -k`)).toEqual([]);
  }
}, 400_000);

it("a SIGKILLed owner leaves nothing behind either (the watchdog reaps)", async () => {
  const child = spawn(join(import.meta.dirname, "../../node_modules/.bin/tsx"), [join(import.meta.dirname, "fixtures/start-and-wait.mts")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (c) => (out += c));
  const started = await waitFor("the cloud's report", async () => out.includes("\n") && JSON.parse(out.split("\n")[0]), 90_000);
  expect(started.containerPids.filter(Boolean)).toHaveLength(2);
  // Kill tsx and the node it runs, as a test runner's timeout would.
  for (const pid of [child.pid!, ...childrenOf(child.pid!)]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await waitFor(
    "everything reaped",
    async () =>
      !isProcessAlive(started.motoPid) &&
      started.containerPids.every((p: number) => !isProcessAlive(p)) &&
      !existsSync(started.tmpDir) &&
      pidsRunning(`-p ${started.pgPort} -k`).length === 0,
    20_000,
    250,
  );
}, 120_000);

it("two clouds at once on different ports do not see each other's state", async () => {
  const [a, b] = await Promise.all([startLocalCloud(), startLocalCloud()]);
  try {
    expect(a.endpoint).not.toBe(b.endpoint);
    const ssmA = new SSMClient(sdkConfig(a));
    const ssmB = new SSMClient(sdkConfig(b));
    const ecsA = new ECSClient(sdkConfig(a));
    const ecsB = new ECSClient(sdkConfig(b));
    await ssmA.send(new CreateActivationCommand({ IamRole: "only-in-a" }));
    await ecsA.send(new CreateClusterCommand({ clusterName: "only-in-a" }));
    expect((await ssmA.send(new DescribeActivationsCommand({}))).ActivationList).toHaveLength(1);
    expect((await ssmB.send(new DescribeActivationsCommand({}))).ActivationList).toEqual([]);
    expect((await ecsB.send(new ListClustersCommand({}))).clusterArns).toEqual([]);
    await b.setFaults({ "ssm:*": { errorRate: 1 } });
    expect((await ssmA.send(new DescribeActivationsCommand({}))).ActivationList).toHaveLength(1);
    expect((await a.state()).activations).toHaveLength(1);
    expect((await b.state()).activations).toHaveLength(0);
    for (const c of [ssmA, ssmB, ecsA, ecsB]) c.destroy();
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}, 120_000);

it("reset clears our records and moto's, and keeps the cloud usable", async () => {
  const cloud = await startLocalCloud();
  try {
    const ssm = new SSMClient(sdkConfig(cloud));
    const ecs = new ECSClient(sdkConfig(cloud));
    await ssm.send(new CreateActivationCommand({ IamRole: "r" }));
    await ecs.send(new CreateClusterCommand({ clusterName: "gone-after-reset" }));
    const res = await fetch(`${cloud.endpoint}/_localcloud/reset`, { method: "POST" });
    expect(res.status).toBe(200);
    expect((await ssm.send(new DescribeActivationsCommand({}))).ActivationList).toEqual([]);
    expect((await ecs.send(new ListClustersCommand({}))).clusterArns).toEqual([]);
    await ecs.send(new CreateClusterCommand({ clusterName: "after-reset" }));
    expect((await ecs.send(new ListClustersCommand({}))).clusterArns).toHaveLength(1);
    ssm.destroy();
    ecs.destroy();
  } finally {
    await cloud.stop();
  }
}, 120_000);

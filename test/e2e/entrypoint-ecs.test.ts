// The entrypoint through a simulated Fargate task: the demo world's bastion image runs scripts/entrypoint.mts
// as its ENTRYPOINT (no CMD: a pure bastion); StopTask is `docker stop`.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DescribeServicesCommand, ECSClient, RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { watchDenials } from "../support/iam.ts";
import { parameterName } from "../../lib/constants.ts";
import { eventually } from "../support/eventually.ts";
import { cloudConfig } from "../support/clients.ts";

let cloud: LocalCloud;
let ecs: ECSClient;

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 200, pendingMs: 200 } });
  ecs = new ECSClient(cloudConfig(cloud, { maxAttempts: 3 }));
});
// The entrypoint runs as its task role (the credentials endpoint): any call refused fails the test, naming the action.
afterEach(watchDenials(() => cloud));
afterAll(async () => {
  ecs?.destroy();
  await cloud?.stop();
});

describe("a Fargate bastion task", () => {
  it("registers under its task ARN and disappears from Systems Manager when the task is stopped", async () => {
    const service = await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }));
    const run = await ecs.send(
      new RunTaskCommand({
        cluster: "stg-main",
        taskDefinition: "stg-bastion",
        launchType: "FARGATE",
        networkConfiguration: service.services![0].networkConfiguration,
      }),
    );
    const task = run.tasks![0];
    const taskId = task.taskArn!.split("/").at(-1)!;
    const name = parameterName("stg", taskId);

    const state = await eventually(
      async () => {
        const s = await cloud.state();
        return s.parameters.some((p) => p.name === name) && s.instances.some((i) => i.agentPid) ? s : undefined;
      },
      60_000,
      "the bastion task's registration",
    );
    const mine = state.instances.filter((i) => i.tags["bastionless:source"] === task.taskArn);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      pingStatus: "Online",
      tags: expect.objectContaining({ "bastionless:env": "stg", "bastionless:managed-by": "bastionless" }),
    });
    expect(state.parameters.find((p) => p.name === name)?.value).toBe(mine[0].instanceId);
    expect(state.activations).toEqual([]);

    await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: task.taskArn, reason: "e2e" }));
    const after = await eventually(
      async () => {
        const s = await cloud.state();
        const t = s.tasks.find((x) => x.taskArn === task.taskArn);
        return t && !t.containers[0].alive ? s : undefined;
      },
      30_000,
      "the task's container to exit",
    );
    const stopped = after.tasks.find((x) => x.taskArn === task.taskArn)!;
    // No CMD: the entrypoint itself ends with 128 + SIGTERM.
    expect(stopped.containers[0].exitCode).toBe(143);
    expect(after.instances.filter((i) => i.tags["bastionless:source"] === task.taskArn)).toEqual([]);
    expect(after.parameters.filter((p) => p.name === name)).toEqual([]);
    expect(after.activations).toEqual([]);
  });
});

// --via instance mistakes found before any wait: an --env whose case differs from the bastion's
// BASTION_ENV, and a task definition that does not run the entrypoint, each one line and exit 2 with
// nothing launched; and an instance the parameter names but whose bastionless:source tag is not the
// bastion's task: refused in one line, the bastion stopped, nothing opened.
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECSClient, RegisterTaskDefinitionCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { CreateActivationCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { AGENT_BIN, startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "../support/clients.ts";
import { eventually } from "../support/eventually.ts";
import { ROOT_KEY } from "../support/iam.ts";
import { run } from "../support/run.ts";
import { NOTHING_LEFT, leftovers, startPortforward, stateHome } from "./portforward-harness.ts";

let cloud: LocalCloud;
const state = stateHome();
const BASE = ["--yes", "--target", "stg-db", "--local-port", "0", "--via", "instance", "--client", "native", "--json"];

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 100, pendingMs: 100 }, stopTimeoutMs: 10_000 });
}, 120_000);

afterAll(async () => {
  await cloud?.stop();
  state.remove();
});

async function refusedEarly(args: string[], user: string): Promise<string> {
  const pf = startPortforward(cloud, args, { XDG_STATE_HOME: state.dir, USER: user });
  const exit = await pf.exited;
  expect(exit.code).toBe(2);
  expect(exit.ms).toBeLessThan(20_000);
  expect((await cloud.state()).tasks.filter((t) => t.startedBy === `bastionless:${user}`)).toEqual([]);
  return pf.stderr();
}

it("--env STG with a bastion of env stg: one line naming the case, before anything is launched", async () => {
  const stderr = await refusedEarly(
    ["--env", "STG", "--cluster", "stg-main", "--service", "stg-app", "--task-definition", "stg-bastion", ...BASE],
    "mistake-case",
  );
  expect(stderr).toBe(
    "portforward: --via instance with --env STG: task definition stg-bastion registers its instance under env stg (container bastion, BASTION_ENV=stg), at /stg/portforward/instances/…, never /STG/… (env names are case-sensitive): pass --env stg.\n",
  );
});

it("--via instance on a task definition that does not run the entrypoint: one line, before anything is launched", async () => {
  const stderr = await refusedEarly(["--env", "stg", "--task-definition", "stg-app", ...BASE], "mistake-app");
  expect(stderr).toContain(
    "portforward: --via instance: task definition stg-app does not run the bastionless entrypoint with an env (no container sets BASTION_ENV or ENV in its environment, env files or secrets), so no managed instance will register: pass --via ecs-exec, or a bastion task definition (docker/bastion/) that sets BASTION_ENV=stg (an env baked into the image alone is not seen here: set it in the definition too).\n",
  );
});

it("refuses the instance a parameter names when its bastionless:source tag is not the bastion's task, and stops the bastion", async () => {
  const ecs = new ECSClient(cloudConfig(cloud));
  const ssm = new SSMClient(cloudConfig(cloud));
  const dir = mkdtempSync(join(tmpdir(), "decoy-"));
  try {
    // A bastion whose container never registers (so the parameter is only the one written here), and
    // a decoy instance registered under another task's ARN.
    await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: "stg-quiet-bastion",
        taskRoleArn: "arn:aws:iam::123456789012:role/stg-bastion-task",
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: "256",
        memory: "512",
        containerDefinitions: [{ name: "bastion", image: "localcloud/app", essential: true, environment: [{ name: "BASTION_ENV", value: "stg" }] }],
      }),
    );
    const other = "arn:aws:ecs:ap-northeast-1:123456789012:task/stg-main/0123456789abcdef0123456789abcdef";
    const activation = await ssm.send(
      new CreateActivationCommand({
        IamRole: "bastionless-ssm-managed-instance",
        Tags: [
          { Key: "bastionless:managed-by", Value: "bastionless" },
          { Key: "bastionless:source", Value: other },
        ],
      }),
    );
    const registered = await run(
      AGENT_BIN,
      ["-register", "-code", activation.ActivationCode!, "-id", activation.ActivationId!, "-region", cloud.region, "-y"],
      { env: { ...cloud.env, SSM_REGISTRATION_FILE: join(dir, "registration") } },
    );
    expect(registered.code).toBe(0);
    const decoy = await eventually(
      async () => (await cloud.state()).instances.find((i) => i.tags["bastionless:source"] === other)?.instanceId,
      10_000,
      "the decoy instance",
    );

    // As root: the operator policy runs only the <env>-bastion family, and this quiet bastion must not
    // become that family's latest revision (the --keep test below launches it).
    const pf = startPortforward(cloud, ["--env", "stg", "--task-definition", "stg-quiet-bastion", ...BASE], {
      XDG_STATE_HOME: state.dir,
      USER: "mistake-decoy",
      ...ROOT_KEY,
    });
    const task = await eventually(
      async () => (await cloud.state()).tasks.find((t) => t.startedBy === "bastionless:mistake-decoy"),
      20_000,
      "the bastion task",
    ).catch((error: Error) => {
      throw new Error(`${error.message}; portforward said: ${pf.stderr()}`);
    });
    const parameter = `/stg/portforward/instances/${task.taskId}`;
    await ssm.send(new PutParameterCommand({ Name: parameter, Value: decoy, Type: "String", Overwrite: true }));
    const exit = await pf.exited;
    expect(exit.code).toBe(1);
    expect(pf.stdout()).toBe("");
    expect(pf.stderr()).toContain(
      `portforward: Refusing managed instance ${decoy}: parameter ${parameter} names it, but its bastionless:source tag is not this bastion's task ${task.taskArn}. Nothing was opened; see who wrote the parameter (CloudTrail ssm:PutParameter).\n`,
    );
    expect((await cloud.state()).tasks.find((t) => t.taskArn === task.taskArn)?.lastStatus).toBe("STOPPED");
    // What is left is the decoy and the parameter written here, which the bastion never owned.
    expect(await leftovers(cloud)).toEqual({ ...NOTHING_LEFT, instances: [decoy], parameters: [parameter], activations: [activation.ActivationId] });
  } finally {
    ecs.destroy();
    ssm.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);

it("--keep twice: the second run names the kept bastion and offers --reuse; --reuse names the one it does not attach to", async () => {
  const env = { XDG_STATE_HOME: state.dir, USER: "keeper" };
  const args = ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--client", "native", "--json", "--keep"];
  const keep = async () => {
    const pf = startPortforward(cloud, args, env);
    const { task } = await pf.ready;
    pf.interrupt();
    expect((await pf.exited).code).toBe(0);
    return { task, stderr: pf.stderr() };
  };
  const first = await keep();
  const second = await keep();
  expect(second.stderr).toContain(`You already have 1 bastion task running in stg-main: ${first.task}. Attach with --reuse instead of launching another.\n`);
  const reuse = startPortforward(
    cloud,
    ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--client", "native", "--json", "--reuse", "--stop"],
    env,
  );
  expect((await reuse.ready).task).toBe(second.task);
  expect(reuse.stderr()).toContain(`Also running in stg-main, started by you: 1 bastion task (${first.task}); Ctrl-C here stops only the one reused.\n`);
  reuse.interrupt();
  expect((await reuse.exited).code).toBe(0);
  const ecs = new ECSClient(cloudConfig(cloud));
  try {
    await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: first.task }));
  } finally {
    ecs.destroy();
  }
  await eventually(async () => ((await leftovers(cloud)).tasks.length === 0 ? true : undefined), 20_000, "the kept bastion to stop");
}, 120_000);

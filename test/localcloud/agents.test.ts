// The agents call AWS with their own credentials, and the local cloud judges those calls as IAM
// does: the SSM agent in an ECS Exec task as its task role (the ssmmessages channels, kms:Decrypt of
// a KMS session's data key), a hybrid instance's agent as its activation's role
// (ssm:UpdateInstanceInformation, the channels). Each refusal is in the denials, naming the action.
import {
  CreateClusterCommand,
  DescribeServicesCommand,
  ECSClient,
  ExecuteCommandCommand,
  RunTaskCommand,
  StopTaskCommand,
  type NetworkConfiguration,
} from "@aws-sdk/client-ecs";
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { CreateKeyCommand, GenerateDataKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { CreateActivationCommand, SSMClient, StartSessionCommand } from "@aws-sdk/client-ssm";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderPolicies, type PolicyDocument } from "../../docker/iam/policies.ts";
import { SessionDriver } from "./dataplane/driver.ts";
import { startLocalCloud, type LocalCloud } from "./index.ts";
import { ACCOUNT } from "./iam/principals.ts";
import { AGENT_BIN, run, sdkConfig, startAgent, waitFor } from "./test-helpers.ts";

let cloud: LocalCloud;
let ecs: ECSClient;
let ssm: SSMClient;
let iam: IAMClient;
let network: NetworkConfiguration;
let dir: string;
const agents: ChildProcess[] = [];
const tasks: { cluster: string; task: string }[] = [];

const policies = () => renderPolicies({ env: "stg", account: ACCOUNT, region: cloud.region }).policies;
const without = (policy: PolicyDocument, sid: string): PolicyDocument => ({ ...policy, Statement: policy.Statement.filter((s) => s.Sid !== sid) });
const trust = (service: string) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }] });
const refusedSince = (since: number) => cloud.deniedCalls().slice(since);
const notAllowed = (caller: string, action: string, resource: string) =>
  `User: ${caller} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`;

async function role(name: string, service: string, policy?: PolicyDocument): Promise<string> {
  const arn = (await iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust(service) }))).Role!.Arn!;
  if (policy) await putPolicy(name, policy);
  return arn;
}

const putPolicy = (name: string, policy: PolicyDocument) =>
  iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: "agent", PolicyDocument: JSON.stringify(policy) }));

async function runExecTask(cluster: string, taskRoleArn: string): Promise<{ taskArn: string; taskId: string; target: string }> {
  const taskArn = (
    await ecs.send(
      new RunTaskCommand({
        cluster,
        taskDefinition: "stg-app",
        launchType: "FARGATE",
        networkConfiguration: network,
        enableExecuteCommand: true,
        overrides: { taskRoleArn },
      }),
    )
  ).tasks![0].taskArn!;
  tasks.push({ cluster, task: taskArn });
  const t = await waitFor("the task RUNNING", async () =>
    (await cloud.state()).tasks.find((x) => x.taskArn === taskArn && x.lastStatus === "RUNNING" && x.containers[0].alive),
  );
  const taskId = taskArn.split("/").pop()!;
  return { taskArn, taskId, target: `ecs:${cluster}_${taskId}_${t.containers[0].runtimeId}` };
}

/** Registers a managed instance with an activation of `iamRole` and runs its agent; its id. */
async function startInstance(iamRole: string, name: string): Promise<string> {
  const a = await ssm.send(new CreateActivationCommand({ IamRole: iamRole }));
  const file = join(dir, name);
  const reg = await run(AGENT_BIN, ["-register", "-code", a.ActivationCode!, "-id", a.ActivationId!, "-region", cloud.region, "-y"], {
    ...cloud.env,
    SSM_REGISTRATION_FILE: file,
  });
  agents.push(startAgent({ ...cloud.env, SSM_REGISTRATION_FILE: file }));
  return /mi-[0-9a-f]{17}/.exec(reg.stdout)![0];
}

const pingOf = async (id: string) => (await cloud.state()).instances.find((i) => i.instanceId === id)?.pingStatus;

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 0, pendingMs: 0 }, stopTimeoutMs: 1000 });
  ecs = new ECSClient(sdkConfig(cloud));
  ssm = new SSMClient(sdkConfig(cloud));
  iam = new IAMClient(sdkConfig(cloud));
  network = (await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }))).services![0].networkConfiguration!;
  dir = mkdtempSync(join(tmpdir(), "localcloud-agents-test-"));
}, 120_000);

afterAll(async () => {
  for (const a of agents) a.kill("SIGKILL");
  for (const t of tasks) await ecs?.send(new StopTaskCommand(t)).catch(() => {});
  for (const c of [ecs, ssm, iam]) c?.destroy();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the ECS Exec agent calls as the task role", () => {
  it("without the ssmmessages channels the task is not connected: ExecuteCommand's internal error, StartSession's TargetNotConnected; granted, it connects", async () => {
    const roleArn = await role("stg-task-nossm", "ecs-tasks.amazonaws.com", {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "logs:*", Resource: "*" }],
    });
    const { taskArn, taskId, target } = await runExecTask("stg-main", roleArn);
    const since = cloud.deniedCalls().length;
    await expect(ecs.send(new ExecuteCommandCommand({ cluster: "stg-main", task: taskArn, command: "true", interactive: true }))).rejects.toMatchObject({
      name: "TargetNotConnectedException",
      message: "The execute command failed due to an internal error. Try again later.",
    });
    await expect(ssm.send(new StartSessionCommand({ Target: target }))).rejects.toMatchObject({
      name: "TargetNotConnected",
      message: `${target} is not connected.`,
    });
    const caller = `arn:aws:sts::${ACCOUNT}:assumed-role/stg-task-nossm/${taskId}`;
    const refusal = { caller, action: "ssmmessages:CreateControlChannel", resource: "*", message: notAllowed(caller, "ssmmessages:CreateControlChannel", "*") };
    expect(refusedSince(since)).toEqual([refusal, refusal]);

    await putPolicy("stg-task-nossm", policies()["ecs-exec-task-role"]);
    const out = await ecs.send(new ExecuteCommandCommand({ cluster: "stg-main", task: taskArn, command: "true", interactive: true }));
    expect(out.session?.sessionId).toMatch(/^ecs-execute-command-/);
  }, 60_000);

  it("a task role IAM does not have gives the agent no credentials: not connected, and nothing was evaluated", async () => {
    const { taskArn } = await runExecTask("stg-main", `arn:aws:iam::${ACCOUNT}:role/stg-task-ghost`);
    const since = cloud.deniedCalls().length;
    await expect(ecs.send(new ExecuteCommandCommand({ cluster: "stg-main", task: taskArn, command: "true", interactive: true }))).rejects.toMatchObject({
      name: "TargetNotConnectedException",
    });
    expect(refusedSince(since)).toEqual([]);
  }, 60_000);

  it("a KMS session's data key is decrypted as the task role: without kms:Decrypt the handshake fails, naming it", async () => {
    const kms = new KMSClient(sdkConfig(cloud));
    try {
      const keyArn = (await kms.send(new CreateKeyCommand({ Description: "agent decrypt" }))).KeyMetadata!.Arn!;
      await ecs.send(
        new CreateClusterCommand({ clusterName: "kmsexec-main", configuration: { executeCommandConfiguration: { kmsKeyId: keyArn, logging: "NONE" } } }),
      );
      // The rendered policy allows kms:Decrypt only inside sessions on stg's targets: this cluster is no env's.
      const roleArn = await role("stg-task-nodecrypt", "ecs-tasks.amazonaws.com", policies()["ecs-exec-task-role"]);
      const { taskArn, taskId, target } = await runExecTask("kmsexec-main", roleArn);
      const out = (await ecs.send(new ExecuteCommandCommand({ cluster: "kmsexec-main", task: taskArn, command: "echo never", interactive: true }))).session!;
      const since = cloud.deniedCalls().length;
      const d = await SessionDriver.connect({
        sessionId: out.sessionId!,
        streamUrl: out.streamUrl!,
        tokenValue: out.tokenValue!,
        target,
        generateDataKey: async (keyId, context) => {
          const key = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 64, EncryptionContext: context }));
          return { ciphertext: Buffer.from(key.CiphertextBlob!), plaintext: Buffer.from(key.Plaintext!) };
        },
      });
      d.ready.catch(() => {});
      const caller = `arn:aws:sts::${ACCOUNT}:assumed-role/stg-task-nodecrypt/${taskId}`;
      expect(await d.closed).toContain(`KMSEncryption failed on agent: ${notAllowed(caller, "kms:Decrypt", keyArn)}`);
      expect(refusedSince(since).map((r) => [r.caller, r.action, r.resource])).toEqual([[caller, "kms:Decrypt", keyArn]]);
      await d.close();
    } finally {
      kms.destroy();
    }
  }, 60_000);
});

describe("a managed instance's agent calls as its activation's role", () => {
  it("without ssm:UpdateInstanceInformation the instance is ConnectionLost, each ping refused; granted, it comes Online", async () => {
    await role("stg-ssm-noping", "ssm.amazonaws.com", without(policies()["ssm-instance-role"], "AgentReportsItself"));
    const since = cloud.deniedCalls().length;
    const id = await startInstance("stg-ssm-noping", "noping");
    const caller = `arn:aws:sts::${ACCOUNT}:assumed-role/stg-ssm-noping/${id}`;
    const resource = `arn:aws:ssm:${cloud.region}:${ACCOUNT}:managed-instance/${id}`;
    // Not even the moment between registration and the agent's first ping.
    expect(await pingOf(id)).toBe("ConnectionLost");
    await waitFor("a refused ping", async () => refusedSince(since).length > 0);
    expect(await pingOf(id)).toBe("ConnectionLost");
    await expect(ssm.send(new StartSessionCommand({ Target: id }))).rejects.toMatchObject({ name: "TargetNotConnected" });
    expect(new Set(refusedSince(since).map((r) => JSON.stringify(r)))).toEqual(
      new Set([
        JSON.stringify({
          caller,
          action: "ssm:UpdateInstanceInformation",
          resource,
          message: notAllowed(caller, "ssm:UpdateInstanceInformation", resource),
        }),
      ]),
    );

    await putPolicy("stg-ssm-noping", policies()["ssm-instance-role"]);
    await waitFor("Online", async () => (await pingOf(id)) === "Online");
  }, 60_000);

  it("without the ssmmessages channels the instance is Online but not connected", async () => {
    await role("stg-ssm-nochannels", "ssm.amazonaws.com", without(policies()["ssm-instance-role"], "SessionManagerChannels"));
    const id = await startInstance("stg-ssm-nochannels", "nochannels");
    await waitFor("the first heartbeat", async () => (await cloud.state()).instances.find((i) => i.instanceId === id)?.agentPid);
    expect(await pingOf(id)).toBe("Online");
    const since = cloud.deniedCalls().length;
    await expect(ssm.send(new StartSessionCommand({ Target: id }))).rejects.toMatchObject({ name: "TargetNotConnected", message: `${id} is not connected.` });
    const caller = `arn:aws:sts::${ACCOUNT}:assumed-role/stg-ssm-nochannels/${id}`;
    expect(refusedSince(since).map((r) => [r.caller, r.action])).toEqual([[caller, "ssmmessages:CreateControlChannel"]]);
  }, 60_000);

  it("an activation role IAM does not have is not evaluated (a deliberate difference: see the README)", async () => {
    const since = cloud.deniedCalls().length;
    const id = await startInstance("no-such-role", "ghost");
    await waitFor("the first heartbeat", async () => (await cloud.state()).instances.find((i) => i.instanceId === id)?.agentPid);
    expect(await pingOf(id)).toBe("Online");
    expect(refusedSince(since)).toEqual([]);
  }, 60_000);
});

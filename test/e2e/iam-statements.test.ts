// Every statement of a policy is needed: the program run by a principal holding its rendered policy
// without one statement fails, and its line and the local cloud's refusal name the action that
// statement allowed. One statement per policy. ecs-exec-task-role and ssm-instance-role are the
// agents' credentials, not a program's: the local cloud authorizes the agents' own calls
// (test/localcloud/iam/agents.ts), so exec and portforward --via instance fail through them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeServicesCommand, ECSClient, RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, PutRolePolicyCommand, PutUserPolicyCommand } from "@aws-sdk/client-iam";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { renderPolicies, type PolicyDocument } from "../../docker/iam/policies.ts";
import { ACCOUNT, AGENT_BIN, ssmInstanceRoleName, startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "../support/clients.ts";
import { eventually } from "../support/eventually.ts";
import { runScript } from "../support/run.ts";

let cloud: LocalCloud;
let iam: IAMClient;
let sts: STSClient;
let ecs: ECSClient;
let dir: string;

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 50, pendingMs: 50 }, stopTimeoutMs: 2000 });
  iam = new IAMClient(cloudConfig(cloud));
  sts = new STSClient(cloudConfig(cloud));
  ecs = new ECSClient(cloudConfig(cloud));
  dir = mkdtempSync(join(tmpdir(), "iam-statements-"));
}, 120_000);

afterAll(async () => {
  iam?.destroy();
  sts?.destroy();
  ecs?.destroy();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `name`'s policy rendered for stg as `make iam` renders it, without the statement `sid`. */
function without(name: string, sid: string): PolicyDocument {
  const policy = renderPolicies({ env: "stg", account: ACCOUNT, region: cloud.region }).policies[name];
  const statements = policy.Statement.filter((s) => s.Sid !== sid);
  if (statements.length !== policy.Statement.length - 1) throw new Error(`${name} has no statement ${sid}`);
  return { ...policy, Statement: statements };
}

/** An IAM user holding `policy` alone: its key, as env vars. */
async function userHolding(userName: string, policy: PolicyDocument): Promise<Record<string, string>> {
  await iam.send(new CreateUserCommand({ UserName: userName }));
  await iam.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: "bastionless", PolicyDocument: JSON.stringify(policy) }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
  return { AWS_ACCESS_KEY_ID: key.AccessKeyId!, AWS_SECRET_ACCESS_KEY: key.SecretAccessKey! };
}

const ECS_TASKS_TRUST = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
};

/** An ECS task role holding `policy` alone, named `policyName`: its ARN. */
async function taskRoleHolding(roleName: string, policyName: string, policy: PolicyDocument): Promise<{ arn: string; name: string }> {
  const role = (await iam.send(new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify(ECS_TASKS_TRUST) }))).Role!;
  await iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: policyName, PolicyDocument: JSON.stringify(policy) }));
  return { arn: role.Arn!, name: role.RoleName! };
}

/** The actions the local cloud refused since `since`. */
const refusedSince = (since: number) =>
  cloud
    .deniedCalls()
    .slice(since)
    .map((d) => d.action);

const env = (credentials: Record<string, string>) => ({ ...cloud.env, ...credentials, XDG_STATE_HOME: join(dir, "state"), BASTIONLESS_CONFIG: "" });

describe("one statement removed from a policy fails its program, naming the action", () => {
  it("operator.json without RunBastionTask: portforward cannot launch the bastion (ecs:RunTask)", async () => {
    const credentials = await userHolding("operator-without-RunBastionTask", without("operator", "RunBastionTask"));
    const since = cloud.deniedCalls().length;
    const r = await runScript("scripts/portforward.mts", ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0"], {
      cwd: dir,
      env: env(credentials),
    });
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("portforward: "))).toEqual([
      expect.stringMatching(
        /^portforward: ecs:RunTask on task definition stg-bastion in cluster stg-main was denied: allow "ecs:RunTask" for the caller's IAM identity \(see docker\/iam\/\)\. AWS said: User: arn:aws:iam::123456789012:user\/operator-without-RunBastionTask is not authorized to perform: ecs:RunTask on resource: /,
      ),
    ]);
    expect(refusedSince(since)).toEqual(["ecs:RunTask"]);
  }, 60_000);

  it("sweeper.json without ListTasksInEnvClusters: cleanup-orphans cannot list the env's tasks (ecs:ListTasks)", async () => {
    const credentials = await userHolding("sweeper-without-ListTasksInEnvClusters", without("sweeper", "ListTasksInEnvClusters"));
    const since = cloud.deniedCalls().length;
    const r = await runScript("scripts/cleanup-orphans.mts", ["--env", "stg", "--dry-run"], { cwd: dir, env: env(credentials) });
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("cleanup-orphans: "))).toEqual([
      expect.stringMatching(
        /^cleanup-orphans: ecs:ListTasks on cluster stg-main was denied: allow "ecs:ListTasks" for the caller's IAM identity \(see docker\/iam\/\)\. AWS said: User: arn:aws:iam::123456789012:user\/sweeper-without-ListTasksInEnvClusters is not authorized to perform: ecs:ListTasks on resource: /,
      ),
    ]);
    expect([...new Set(refusedSince(since))]).toEqual(["ecs:ListTasks"]);
  }, 60_000);

  it("entrypoint-task-role.json without CreateTaggedActivation: the entrypoint cannot register (ssm:CreateActivation)", async () => {
    const role = await taskRoleHolding(
      "stg-task-without-CreateTaggedActivation",
      "entrypoint-task-role",
      without("entrypoint-task-role", "CreateTaggedActivation"),
    );
    const c = (await sts.send(new AssumeRoleCommand({ RoleArn: role.arn, RoleSessionName: "host-entrypoint" }))).Credentials!;
    const since = cloud.deniedCalls().length;
    const r = await runScript("scripts/entrypoint.mts", [], {
      cwd: dir,
      env: {
        ...cloud.env,
        AWS_ACCESS_KEY_ID: c.AccessKeyId!,
        AWS_SECRET_ACCESS_KEY: c.SecretAccessKey!,
        AWS_SESSION_TOKEN: c.SessionToken!,
        BASTION_ENV: "stg",
        BASTION_IAM_ROLE: ssmInstanceRoleName("stg"),
        BASTION_REGION: cloud.region,
        SSM_AGENT_BIN: AGENT_BIN,
        SSM_REGISTRATION_FILE: join(dir, "registration"),
        BASTION_SHUTDOWN_TIMEOUT: "3s",
      },
    });
    expect(r.code).toBe(1);
    const errors = r.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: string; event: string; error?: string })
      .filter((e) => e.level === "error");
    expect(errors.map((e) => [e.event, e.error?.replace(/ AWS said: .*/, "")])).toEqual([
      [
        "registration_failed",
        `Registration failed at create-activation: ssm:CreateActivation on role ${ssmInstanceRoleName("stg")} was denied: allow "ssm:CreateActivation" for the caller's IAM identity (see docker/iam/).`,
      ],
    ]);
    expect(refusedSince(since)).toEqual(["ssm:CreateActivation"]);
  }, 60_000);
  it("ecs-exec-task-role.json without SessionManagerChannels: exec cannot reach the task's agent (ssmmessages:CreateControlChannel)", async () => {
    const role = await taskRoleHolding(
      "stg-task-without-SessionManagerChannels",
      "ecs-exec-task-role",
      without("ecs-exec-task-role", "SessionManagerChannels"),
    );
    const network = (await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }))).services![0].networkConfiguration!;
    const taskArn = (
      await ecs.send(
        new RunTaskCommand({
          cluster: "stg-main",
          taskDefinition: "stg-app",
          launchType: "FARGATE",
          networkConfiguration: network,
          enableExecuteCommand: true,
          overrides: { taskRoleArn: role.arn },
        }),
      )
    ).tasks![0].taskArn!;
    const taskId = taskArn.split("/").pop()!;
    try {
      await eventually(
        async () => (await cloud.state()).tasks.find((t) => t.taskArn === taskArn)?.lastStatus === "RUNNING" || undefined,
        20_000,
        "the task RUNNING",
      );
      const since = cloud.deniedCalls().length;
      const r = await runScript("scripts/exec.mts", ["--yes", "--cluster", "stg-main", "--task", taskId, "--command", "echo reached"], {
        cwd: dir,
        env: env(cloud.principalEnv("operator")),
      });
      expect(r.code).toBe(1);
      expect(r.stdout).not.toContain("reached");
      const channels = "ssmmessages:CreateControlChannel, ssmmessages:CreateDataChannel, ssmmessages:OpenControlChannel, ssmmessages:OpenDataChannel";
      expect(r.stderr.split("\n").filter((l) => l.startsWith("exec: "))).toEqual([
        `exec: ecs:ExecuteCommand on task ${taskId} in cluster stg-main failed: the task's SSM agent cannot connect to Session Manager (TargetNotConnectedException): its task role ${role.arn} is not allowed ${channels}. Allow them in that role's policy (see docker/iam/ecs-exec-task-role.json), then try again.`,
      ]);
      // The agent's own call, refused to the task role's session (named after the task).
      expect(
        cloud
          .deniedCalls()
          .slice(since)
          .map((d) => [d.caller, d.action]),
      ).toEqual([[`arn:aws:sts::${ACCOUNT}:assumed-role/${role.name}/${taskId}`, "ssmmessages:CreateControlChannel"]]);
    } finally {
      await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: taskArn }));
    }
  }, 90_000);

  it("ssm-instance-role.json without AgentReportsItself: portforward --via instance never sees the bastion's instance Online (ssm:UpdateInstanceInformation)", async () => {
    const role = ssmInstanceRoleName("stg");
    const put = (policy: PolicyDocument) =>
      iam.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: "ssm-instance-role", PolicyDocument: JSON.stringify(policy) }));
    await put(without("ssm-instance-role", "AgentReportsItself"));
    try {
      const since = cloud.deniedCalls().length;
      const r = await runScript(
        "scripts/portforward.mts",
        ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--via", "instance", "--timeout", "20s"],
        { cwd: dir, env: env(cloud.principalEnv("operator")) },
      );
      expect(r.code).toBe(1);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("portforward: "))).toEqual([
        expect.stringMatching(
          new RegExp(
            `^portforward: Bastion task [0-9a-f-]{36} was not ready within 20s: its managed instance (mi-[0-9a-f]{17}) registered but stayed ConnectionLost, so its SSM agent cannot report itself \\(ssm:UpdateInstanceInformation\\)\\. Allow ssm:UpdateInstanceInformation in role ${role}'s policy \\(see docker/iam/ssm-instance-role\\.json\\)`,
          ),
        ),
      ]);
      // The agent's heartbeats, refused to the role's session (named after the instance), nothing else.
      const instanceId = /mi-[0-9a-f]{17}/.exec(r.stderr)![0];
      expect([
        ...new Set(
          cloud
            .deniedCalls()
            .slice(since)
            .map((d) => `${d.caller} ${d.action} ${d.resource}`),
        ),
      ]).toEqual([
        `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${instanceId} ssm:UpdateInstanceInformation arn:aws:ssm:${cloud.region}:${ACCOUNT}:managed-instance/${instanceId}`,
      ]);
    } finally {
      await put(renderPolicies({ env: "stg", account: ACCOUNT, region: cloud.region }).policies["ssm-instance-role"]);
    }
  }, 120_000);
});

// exec --check's verdicts against the local cloud with IAM simulated by its evaluator: one scenario
// per row, each asserting the exact report lines that matter (every line that is not ✓, and the ✓
// lines the scenario is about). The caller is an IAM user holding the rendered docker/iam/operator.json
// (or a variant); task roles hold the rendered docker/iam/ecs-exec-task-role.json (or a variant).
// The report is built as scripts/exec.mts builds it (gatherFacts → evaluateChecks → formatReport);
// two scenarios also go through the script to show it prints the same lines.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { CloudWatchLogsClient, CreateLogGroupCommand } from "@aws-sdk/client-cloudwatch-logs";
import {
  CreateClusterCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ContainerDefinition,
  type NetworkConfiguration,
  type RegisterTaskDefinitionCommandInput,
  type RunTaskCommandInput,
} from "@aws-sdk/client-ecs";
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, PutRolePolicyCommand, PutUserPolicyCommand } from "@aws-sdk/client-iam";
import { CreateKeyCommand, DisableKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { STSClient } from "@aws-sdk/client-sts";
import { renderPolicies, type PolicyDocument } from "../../docker/iam/policies.ts";
import { describeCluster, describeTasks, type ClusterInfo } from "../../lib/aws/ecs.ts";
import { evaluateChecks, formatReport, summarize } from "../../lib/exec/checks.ts";
import { gatherFacts } from "../../lib/exec/facts.ts";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "../support/clients.ts";
import { eventually } from "../support/eventually.ts";
import { runScript, type RunResult } from "../support/run.ts";

const ACCOUNT = "123456789012";
const REGION = "ap-northeast-1";
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;

let cloud: LocalCloud;
let ecs: ECSClient;
let iam: IAMClient;
let network: NetworkConfiguration;
const keys: Record<string, { accessKeyId: string; secretAccessKey: string }> = {};
const started: Array<{ cluster: string; task: string }> = [];
let enabledKey: string;
let disabledKey: string;

const rendered = (input: { kmsKey?: string } = {}) => renderPolicies({ env: "stg", account: ACCOUNT, region: REGION, ...input }).policies;
const OPERATOR = rendered().operator;
const EXEC_ROLE = rendered()["ecs-exec-task-role"];

/** A report line as formatReport pads it: titles to the longest, "AWS credentials in the environment". */
const line = (mark: string, title: string, detail: string) => `  ${mark} ${title.padEnd(34)}  ${detail}`;

async function makeRole(name: string, policy: PolicyDocument): Promise<void> {
  await iam.send(
    new CreateRoleCommand({
      RoleName: name,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
      }),
    }),
  );
  await iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: "exec", PolicyDocument: JSON.stringify(policy) }));
}

async function makeUser(name: string, policy: PolicyDocument): Promise<void> {
  await iam.send(new CreateUserCommand({ UserName: name }));
  await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: "operator", PolicyDocument: JSON.stringify(policy) }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
  keys[name] = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
}

const container = (name: string, extra: Partial<ContainerDefinition> = {}): ContainerDefinition => ({
  name,
  image: "localcloud/app",
  essential: true,
  memory: 128,
  linuxParameters: { initProcessEnabled: true },
  ...extra,
});

async function taskDefinition(family: string, input: Partial<RegisterTaskDefinitionCommandInput> = {}): Promise<void> {
  await ecs.send(
    new RegisterTaskDefinitionCommand({
      family,
      requiresCompatibilities: ["FARGATE"],
      networkMode: "awsvpc",
      cpu: "256",
      memory: "512",
      taskRoleArn: role("stg-exec-ok"),
      containerDefinitions: [container("app")],
      ...input,
    }),
  );
}

async function runTask(cluster: string, family: string, input: Partial<RunTaskCommandInput> = {}): Promise<string> {
  const out = await ecs.send(
    new RunTaskCommand({ cluster, taskDefinition: family, launchType: "FARGATE", networkConfiguration: network, enableExecuteCommand: true, ...input }),
  );
  const arn = out.tasks![0].taskArn!;
  started.push({ cluster, task: arn });
  await eventually(
    async () => ((await cloud.state()).tasks.find((t) => t.taskArn === arn)?.lastStatus === "RUNNING" ? true : undefined),
    60_000,
    `task ${arn} RUNNING`,
  );
  return arn;
}

interface Report {
  lines: string[];
  summary: string;
  taskId: string;
}

/** exec --check's report for one container of one task, as the caller `who` (an IAM user made above). */
async function check(cluster: string, taskArn: string, who = "stg-operator", containerName = "app"): Promise<Report> {
  const config = cloudConfig(cloud, { credentials: keys[who] });
  const clients = {
    ecs: new ECSClient(config),
    iam: new IAMClient(config),
    kms: new KMSClient(config),
    logs: new CloudWatchLogsClient(config),
    s3: new S3Client(config),
    sts: new STSClient(config),
  };
  try {
    const clusterInfo = (await describeCluster(clients.ecs, cluster)) as ClusterInfo;
    const task = (await describeTasks(clients.ecs, cluster, [taskArn])).tasks[0];
    const results = evaluateChecks(await gatherFacts(clients, { cluster: clusterInfo, task, container: containerName }));
    return { lines: formatReport(results).trimEnd().split("\n"), summary: summarize(results), taskId: task.taskId };
  } finally {
    for (const c of Object.values(clients)) c.destroy();
  }
}

/** The lines that are not ✓ (with their remedies). */
const notOk = (r: Report) => r.lines.filter((l, i) => !l.startsWith("  ✓") && !(l.startsWith("    ") && r.lines[i - 1]?.startsWith("  ✓")));

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 }, stopTimeoutMs: 1000 });
  const root = cloudConfig(cloud);
  ecs = new ECSClient(root);
  iam = new IAMClient(root);
  const kms = new KMSClient(root);
  const logs = new CloudWatchLogsClient(root);
  // The demo service's network: its subnets are moto's default VPC's.
  network = (await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }))).services![0].networkConfiguration!;

  enabledKey = (await kms.send(new CreateKeyCommand({ Description: "stg exec sessions" }))).KeyMetadata!.Arn!;
  const off = (await kms.send(new CreateKeyCommand({ Description: "disabled" }))).KeyMetadata!;
  await kms.send(new DisableKeyCommand({ KeyId: off.KeyId! }));
  disabledKey = off.Arn!;
  const otherKeyId = "99999999-12ab-34cd-56ef-1234567890ab";

  await makeRole("stg-exec-ok", EXEC_ROLE);
  await makeRole("stg-exec-nossm", { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["logs:*", "s3:GetObject"], Resource: "*" }] });
  await makeRole("stg-exec-otherkey", rendered({ kmsKey: otherKeyId })["ecs-exec-task-role"]);
  await makeUser("stg-operator", OPERATOR);
  await makeUser("stg-operator-noexec", { ...OPERATOR, Statement: OPERATOR.Statement.filter((s) => s.Sid !== "ExecIntoEnvTasks") });
  await makeUser("stg-operator-nostart", {
    ...OPERATOR,
    Statement: [
      ...OPERATOR.Statement,
      { Sid: "NoDirectSessionsToTasks", Effect: "Deny", Action: "ssm:StartSession", Resource: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/*` },
    ],
  });

  await logs.send(new CreateLogGroupCommand({ logGroupName: "/bastionless/stg/exec" }));
  const override = (logConfiguration: Record<string, unknown>, kmsKeyId?: string) => ({
    executeCommandConfiguration: { logging: "OVERRIDE" as const, logConfiguration, ...(kmsKeyId ? { kmsKeyId } : {}) },
  });
  for (const [clusterName, configuration] of [
    ["stg-exec", override({ cloudWatchLogGroupName: "/bastionless/stg/exec" })],
    ["stg-exec-plain", { executeCommandConfiguration: { logging: "NONE" as const } }],
    ["stg-exec-nolog", override({ cloudWatchLogGroupName: "/bastionless/stg/exec-missing" })],
    ["stg-exec-kms", override({ cloudWatchLogGroupName: "/bastionless/stg/exec" }, enabledKey)],
    ["stg-exec-kmsoff", { executeCommandConfiguration: { logging: "NONE" as const, kmsKeyId: disabledKey } }],
    ["stg-exec-s3", override({ s3BucketName: "bastionless-stg-exec", s3KeyPrefix: "exec/", s3EncryptionEnabled: true })],
  ] as const) {
    await ecs.send(new CreateClusterCommand({ clusterName, configuration }));
  }

  await taskDefinition("stg-x-ok");
  await taskDefinition("stg-x-norole", { taskRoleArn: undefined });
  await taskDefinition("stg-x-ghost", { taskRoleArn: role("stg-ghost") });
  await taskDefinition("stg-x-nossm", { taskRoleArn: role("stg-exec-nossm") });
  await taskDefinition("stg-x-otherkey", { taskRoleArn: role("stg-exec-otherkey") });
  await taskDefinition("stg-x-readonly", { containerDefinitions: [container("app", { readonlyRootFilesystem: true })] });
  await taskDefinition("stg-x-noinit", { containerDefinitions: [container("app", { linuxParameters: { initProcessEnabled: false } })] });
  await taskDefinition("stg-x-creds", {
    containerDefinitions: [
      container("app", {
        environment: [
          { name: "AWS_ACCESS_KEY_ID", value: "AKIAIOSFODNN7EXAMPLE" },
          { name: "AWS_SECRET_ACCESS_KEY", value: "x" },
        ],
      }),
    ],
  });
  await taskDefinition("stg-x-pid", { pidMode: "task" });
  await taskDefinition("stg-x-two", { containerDefinitions: [container("app"), container("sidecar", { essential: false })] });
  await taskDefinition("stg-x-windows", {
    cpu: "1024",
    memory: "2048",
    runtimePlatform: { operatingSystemFamily: "WINDOWS_SERVER_2019_CORE", cpuArchitecture: "X86_64" },
  });
  kms.destroy();
  logs.destroy();
}, 180_000);

afterAll(async () => {
  for (const t of started) await ecs?.send(new StopTaskCommand(t)).catch(() => {});
  ecs?.destroy();
  iam?.destroy();
  await cloud?.stop();
});

const OK_ROLE = role("stg-exec-ok");
const OPERATOR_ARN = user("stg-operator");
const SSMMESSAGES = "ssmmessages:CreateControlChannel, ssmmessages:CreateDataChannel, ssmmessages:OpenControlChannel, ssmmessages:OpenDataChannel";

describe("exec --check against the local cloud, with the project's own policies", () => {
  it("1 healthy, logging to a log group the task role is scoped to: every line ✓, the logs actions simulated on the log group", async () => {
    const r = await check("stg-exec", await runTask("stg-exec", "stg-x-ok"));
    expect(notOk(r)).toEqual([]);
    expect(r.lines).toContain(
      line(
        "✓",
        "Task role: session logging",
        `role ${OK_ROLE} allows logs:DescribeLogGroups, logs:CreateLogStream, logs:DescribeLogStreams, logs:PutLogEvents`,
      ),
    );
    expect(r.lines).toContain(line("✓", "Task role: ssmmessages", `role ${OK_ROLE} allows ${SSMMESSAGES}`));
    expect(r.lines).toContain(line("✓", "Caller: ecs:ExecuteCommand", `${OPERATOR_ARN} may ecs:ExecuteCommand on task ${r.taskId}`));
    expect(r.summary).toBe("Every check passed.");
  }, 90_000);

  it("2 exec not enabled on the task", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-ok", { enableExecuteCommand: false }));
    expect(notOk(r)).toEqual([
      line("!", "Cluster exec logging", "cluster stg-exec-plain logs no exec session (logging NONE)"),
      `    ${" ".repeat(36)}→ set executeCommandConfiguration.logging to DEFAULT or OVERRIDE if sessions must be audited`,
      line("✗", "Execute command enabled", `task ${r.taskId} was started without enableExecuteCommand`),
      `    ${" ".repeat(36)}→ run a new task with --enable-execute-command (it cannot be turned on for a running task)`,
      line("?", "ExecuteCommandAgent", `no agent: execute command is not enabled on task ${r.taskId}`),
      `    ${" ".repeat(36)}→ see "Execute command enabled"`,
    ]);
  }, 90_000);
});

/** The lines without the cluster's logging warning every plain-cluster scenario shares. */
const ownLines = (r: Report) => notOk(r).filter((l) => !l.includes("logs no exec session") && !l.includes("if sessions must be audited"));
const remedy = (text: string) => `    ${" ".repeat(36)}→ ${text}`;

describe("exec --check: one broken thing each, exactly its line", () => {
  it("3 no task role (exec off: RunTask refuses exec without one)", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-norole", { enableExecuteCommand: false }));
    expect(ownLines(r).filter((l) => /Task role|→ set taskRoleArn/.test(l))).toEqual([
      line("✗", "Task role", "task definition stg-x-norole:1 has no task role: the exec agent has no credentials"),
      remedy(`set taskRoleArn to a role allowing ${SSMMESSAGES}`),
    ]);
  }, 90_000);

  it("4 the task role does not exist", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-ghost"));
    expect(ownLines(r)).toEqual([line("✗", "Task role", `role ${role("stg-ghost")} does not exist`), remedy("create it or fix taskRoleArn in stg-x-ghost")]);
  }, 90_000);

  it("5 the task role lacks ssmmessages", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-nossm"));
    expect(ownLines(r)).toEqual([
      line("✗", "Task role: ssmmessages", `role ${role("stg-exec-nossm")} is not allowed ${SSMMESSAGES}`),
      remedy(`allow ${SSMMESSAGES} in role ${role("stg-exec-nossm")}'s policy`),
    ]);
  }, 90_000);

  it("6 the exec log group does not exist", async () => {
    const r = await check("stg-exec-nolog", await runTask("stg-exec-nolog", "stg-x-ok"));
    expect(ownLines(r)).toEqual([
      line("✗", "Exec log group", "log group /bastionless/stg/exec-missing does not exist: the agent cannot record sessions and exec fails"),
      remedy("aws logs create-log-group --log-group-name /bastionless/stg/exec-missing"),
      line(
        "✗",
        "Task role: session logging",
        `role ${OK_ROLE} is not allowed logs:CreateLogStream, logs:DescribeLogStreams, logs:PutLogEvents on arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/bastionless/stg/exec-missing:*`,
      ),
      remedy(
        `allow logs:CreateLogStream, logs:DescribeLogStreams, logs:PutLogEvents on arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/bastionless/stg/exec-missing:* in role ${OK_ROLE}'s policy`,
      ),
    ]);
  }, 90_000);

  it("7 the cluster's KMS key is disabled: the real GenerateDataKey says so", async () => {
    const r = await check("stg-exec-kmsoff", await runTask("stg-exec-kmsoff", "stg-x-ok"));
    expect(ownLines(r)).toEqual([
      line("✗", "KMS key (caller)", `key ${disabledKey} cannot be used (DisabledException: ${disabledKey} is disabled.)`),
      remedy("enable the key or set a usable kmsKeyId in cluster stg-exec-kmsoff's executeCommandConfiguration"),
    ]);
  }, 90_000);

  it("8 the task role may decrypt with another key only", async () => {
    const r = await check("stg-exec-kms", await runTask("stg-exec-kms", "stg-x-otherkey"));
    expect(ownLines(r)).toEqual([
      line("✗", "Task role: KMS", `role ${role("stg-exec-otherkey")} is not allowed kms:Decrypt on ${enabledKey}`),
      remedy(`allow kms:Decrypt on ${enabledKey} in role ${role("stg-exec-otherkey")}'s policy`),
    ]);
  }, 90_000);

  it("9 the project's own policies with a KMS key and a log group: all ✓ — the key's Condition is met by the session's context", async () => {
    const r = await check("stg-exec-kms", await runTask("stg-exec-kms", "stg-x-ok"));
    expect(notOk(r)).toEqual([]);
    expect(r.lines).toContain(line("✓", "KMS key (caller)", `the caller may kms:GenerateDataKey on ${enabledKey}`));
    expect(r.lines).toContain(line("✓", "Task role: KMS", `role ${OK_ROLE} allows kms:Decrypt`));
  }, 90_000);

  it("10 read-only root filesystem", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-readonly"));
    expect(ownLines(r)).toEqual([
      line("✗", "Read-only root filesystem", "container app has readonlyRootFilesystem true: the exec agent cannot write its files"),
      remedy("set readonlyRootFilesystem to false for app in task definition stg-x-readonly and redeploy"),
    ]);
  }, 90_000);

  it("11 no init process: a warning", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-noinit"));
    expect(ownLines(r)).toEqual([
      line("!", "Init process", "container app has no init process"),
      remedy("set linuxParameters.initProcessEnabled to true in stg-x-noinit, so processes left by exec sessions are reaped"),
    ]);
  }, 90_000);

  it("12 the ExecuteCommandAgent stopped", async () => {
    const taskArn = await runTask("stg-exec-plain", "stg-x-ok", {
      overrides: { containerOverrides: [{ name: "app", environment: [{ name: "LOCALCLOUD_EXEC_AGENT", value: "STOPPED" }] }] },
    });
    const r = await check("stg-exec-plain", taskArn);
    expect(ownLines(r)).toEqual([
      line("✗", "ExecuteCommandAgent", "the agent in container app is STOPPED"),
      remedy(
        `stop task ${r.taskId} so that a new one starts (aws ecs stop-task --cluster stg-exec-plain --task ${r.taskId}); if the new agent stops too, check the task role's ssmmessages permissions and the network path to ssmmessages`,
      ),
    ]);
  }, 90_000);

  it("13 AWS credentials in the task definition's environment: a warning", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-creds"));
    expect(ownLines(r)).toEqual([
      line(
        "!",
        "AWS credentials in the environment",
        "container app sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: the exec agent then uses those credentials instead of the task role's",
      ),
      remedy("remove them from stg-x-creds and grant what they gave to the task role"),
    ]);
  }, 90_000);

  it("14 pidMode task: a warning (one exec session per PID namespace), not a failure", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-pid"));
    expect(ownLines(r)).toEqual([
      line(
        "!",
        "PID mode",
        `task definition stg-x-pid sets pidMode "task": its containers share one PID namespace, and ECS Exec runs one session per PID namespace`,
      ),
      remedy("to exec into several of its containers at once, remove pidMode from stg-x-pid and redeploy"),
    ]);
    expect(r.summary).toBe("No check failed; 2 advised against (!).");
  }, 90_000);

  it("15 the task role given as a RunTask override is the one checked", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-nossm", { overrides: { taskRoleArn: OK_ROLE } }));
    expect(ownLines(r)).toEqual([]);
    expect(r.lines).toContain(line("✓", "Task role", `role ${OK_ROLE} (RunTask override) exists`));
    expect(r.lines).toContain(line("✓", "Task role: ssmmessages", `role ${OK_ROLE} allows ${SSMMESSAGES}`));
  }, 90_000);

  it("16 the exec log bucket does not exist, then exists: s3:PutObject simulated under its prefix, GetEncryptionConfiguration with encryption on", async () => {
    const taskArn = await runTask("stg-exec-s3", "stg-x-ok");
    const missing = await check("stg-exec-s3", taskArn);
    expect(notOk(missing)).toEqual([
      line("✗", "Exec log bucket", "bucket bastionless-stg-exec does not exist"),
      remedy("create it (aws s3 mb s3://bastionless-stg-exec) or fix logConfiguration.s3BucketName of cluster stg-exec-s3"),
    ]);
    const s3 = new S3Client(cloudConfig(cloud, { forcePathStyle: true }));
    await s3.send(new CreateBucketCommand({ Bucket: "bastionless-stg-exec", CreateBucketConfiguration: { LocationConstraint: REGION } }));
    s3.destroy();
    const present = await check("stg-exec-s3", taskArn);
    expect(notOk(present)).toEqual([]);
    expect(present.lines).toContain(line("✓", "Task role: session logging", `role ${OK_ROLE} allows s3:PutObject, s3:GetEncryptionConfiguration`));
  }, 90_000);

  it("17 a caller without ecs:ExecuteCommand", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-ok"), "stg-operator-noexec");
    const who = user("stg-operator-noexec");
    expect(ownLines(r)).toEqual([
      line("✗", "Caller: ecs:ExecuteCommand", `${who} is not allowed ecs:ExecuteCommand on task ${r.taskId} (implicitDeny)`),
      remedy(`allow ecs:ExecuteCommand on ${started.at(-1)!.task} for ${who}`),
    ]);
  }, 90_000);

  it("18 a caller explicitly denied ssm:StartSession on tasks (AWS's recommendation): fine for ECS Exec", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-ok"), "stg-operator-nostart");
    expect(ownLines(r)).toEqual([]);
    expect(r.lines).toContain(
      line(
        "✓",
        "Caller: ssm:StartSession",
        `${user("stg-operator-nostart")} is explicitly denied ssm:StartSession on the task: ECS Exec does not need it; port forwarding through this task would`,
      ),
    );
  }, 90_000);

  it("19 Fargate platform 1.3.0 has no ECS Exec; the version RunTask asked for is the one reported", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-ok", { platformVersion: "1.3.0" }));
    expect(ownLines(r)).toEqual([
      line("✗", "Fargate platform version", "platform version 1.3.0 (Linux) has no ECS Exec"),
      remedy("run the service on platform version 1.4.0 or LATEST"),
    ]);
  }, 90_000);

  it("20 Windows Fargate on platform 1.0.0 has ECS Exec", async () => {
    const r = await check("stg-exec-plain", await runTask("stg-exec-plain", "stg-x-windows", { platformVersion: "1.0.0" }));
    expect(ownLines(r)).toEqual([]);
    expect(r.lines).toContain(line("✓", "Fargate platform version", "platform version 1.0.0 (WINDOWS_SERVER_2019_CORE)"));
  }, 90_000);

  it("21 a two-container task: DescribeTasks lists both, and the second container is checked", async () => {
    const taskArn = await runTask("stg-exec-plain", "stg-x-two");
    const described = await describeTasks(ecs, "stg-exec-plain", [taskArn]);
    expect(described.tasks[0].containers.map((c) => [c.name, c.execAgentStatus])).toEqual([
      ["app", "RUNNING"],
      ["sidecar", "RUNNING"],
    ]);
    const r = await check("stg-exec-plain", taskArn, "stg-operator", "sidecar");
    expect(ownLines(r)).toEqual([]);
    expect(r.lines).toContain(line("✓", "ExecuteCommandAgent", "the agent in container sidecar is RUNNING"));
  }, 90_000);
});

describe("scripts/exec.mts --check prints the same report", () => {
  function script(args: string[], who: string): Promise<RunResult> {
    return runScript("scripts/exec.mts", args, {
      env: {
        ...cloud.env,
        AWS_ACCESS_KEY_ID: keys[who].accessKeyId,
        AWS_SECRET_ACCESS_KEY: keys[who].secretAccessKey,
        BASTIONLESS_CONFIG: "",
        XDG_STATE_HOME: join(cloud.tmpDir, "exec-check-state"),
      },
      timeoutMs: 90_000,
    });
  }

  it("the override scenario and the KMS scenario, through the script: the same lines, exit 0", async () => {
    const taskArn = await runTask("stg-exec-kms", "stg-x-nossm", { overrides: { taskRoleArn: OK_ROLE } });
    const expected = await check("stg-exec-kms", taskArn);
    const run = await script(["--yes", "--cluster", "stg-exec-kms", "--task", expected.taskId, "--check"], "stg-operator");
    expect(run.stdout).toBe(`Pre-flight checks for stg-exec-kms/${expected.taskId}/app:\n${expected.lines.join("\n")}\n${expected.summary}\n`);
    expect(run.code).toBe(0);
  }, 90_000);
});

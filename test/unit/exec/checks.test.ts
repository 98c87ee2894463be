// The pre-flight decisions: a healthy baseline passes everything, and each broken fact turns
// exactly its own check ✗ (or ? when it could not be looked up).
import { describe, expect, it } from "vitest";
import { evaluateChecks, formatReport, kmsKeyArn, summarize, taskRoleSimulations, type ExecFacts } from "../../../lib/exec/checks.ts";
import { principalOf } from "../../../lib/aws/iam.ts";

const TASK_ARN = "arn:aws:ecs:ap-northeast-1:123456789012:task/stg-main/5f2e";
const allowed = (actions: string[]) => Object.fromEntries(actions.map((a) => [a, "allowed" as const]));

function healthy(): ExecFacts {
  return {
    cluster: { name: "stg-main", arn: "arn:c", status: "ACTIVE", execLogging: "OVERRIDE", execLogGroup: "/ecs/exec", execKmsKeyId: "arn:aws:kms:k" },
    task: {
      taskArn: TASK_ARN,
      taskId: "5f2e",
      clusterArn: "arn:c",
      cluster: "stg-main",
      lastStatus: "RUNNING",
      desiredStatus: "RUNNING",
      enableExecuteCommand: true,
      platformVersion: "1.4.0",
      taskDefinitionArn: "arn:td/stg-app:3",
      tags: {},
      containers: [{ name: "app", runtimeId: "5f2e-1", execAgentStatus: "RUNNING" }],
    },
    container: "app",
    service: "stg-app",
    taskDefinition: {
      arn: "arn:td/stg-app:3",
      family: "stg-app",
      revision: 3,
      taskRoleArn: "arn:aws:iam::123456789012:role/stg-task",
      containers: [{ name: "app", initProcessEnabled: true, readonlyRootFilesystem: false, essential: true, credentialEnv: [] }],
      containerExtras: [{ name: "app", credentialEnv: [] }],
    },
    logGroup: { name: "/ecs/exec", exists: true },
    kmsProbe: { keyId: "arn:aws:kms:k", result: "ok" },
    taskRole: { arn: "arn:aws:iam::123456789012:role/stg-task", exists: true },
    taskRoleDecisions: allowed([
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
      "kms:Decrypt",
      "logs:DescribeLogGroups",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]),
    taskRoleResources: {
      ...Object.fromEntries(
        [
          "ssmmessages:CreateControlChannel",
          "ssmmessages:CreateDataChannel",
          "ssmmessages:OpenControlChannel",
          "ssmmessages:OpenDataChannel",
          "logs:DescribeLogGroups",
        ].map((a) => [a, "*"]),
      ),
      "kms:Decrypt": "arn:aws:kms:k",
      ...Object.fromEntries(
        ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"].map((a) => [
          a,
          "arn:aws:logs:ap-northeast-1:123456789012:log-group:/ecs/exec:*",
        ]),
      ),
    },
    caller: { arn: "arn:aws:sts::123456789012:assumed-role/ops/alice", principalArn: "arn:aws:iam::123456789012:role/ops" },
    callerDecisions: allowed(["ecs:ExecuteCommand", "ssm:StartSession"]),
    plugin: { version: "1.2.764.0" },
    minPluginVersion: "1.2.764.0",
  };
}

const statusOf = (facts: ExecFacts) => Object.fromEntries(evaluateChecks(facts).map((r) => [r.id, r.status]));
const notOk = (facts: ExecFacts) =>
  evaluateChecks(facts)
    .filter((r) => r.status !== "ok")
    .map((r) => `${r.status} ${r.id}`);

describe("evaluateChecks", () => {
  it("passes every check of a healthy target", () => {
    const results = evaluateChecks(healthy());
    expect(results.map((r) => r.id)).toEqual([
      "cluster-logging",
      "log-group",
      "kms-key",
      "task-running",
      "exec-enabled",
      "exec-agent",
      "platform-version",
      "task-role",
      "task-role-ssmmessages",
      "task-role-kms",
      "task-role-logging",
      "caller-execute-command",
      "caller-start-session",
      "readonly-root",
      "init-process",
      "pid-mode",
      "credential-env",
      "plugin",
    ]);
    expect(notOk(healthy())).toEqual([]);
    expect(summarize(results)).toBe("Every check passed.");
  });

  const broken: Array<[string, (f: ExecFacts) => void, string[]]> = [
    [
      "exec disabled",
      (f) => {
        f.task.enableExecuteCommand = false;
        f.task.containers[0].execAgentStatus = undefined;
      },
      ["fail exec-enabled", "unknown exec-agent"],
    ],
    [
      "agent stopped",
      (f) => {
        f.task.containers[0].execAgentStatus = "STOPPED";
      },
      ["fail exec-agent"],
    ],
    [
      "agent pending",
      (f) => {
        f.task.containers[0].execAgentStatus = "PENDING";
      },
      ["fail exec-agent"],
    ],
    [
      "KMS denied",
      (f) => {
        f.kmsProbe = { keyId: "k", result: { errorName: "AccessDeniedException", message: "no" } };
      },
      ["fail kms-key"],
    ],
    [
      "KMS key disabled",
      (f) => {
        f.kmsProbe = { keyId: "k", result: { errorName: "DisabledException", message: "off" } };
      },
      ["fail kms-key"],
    ],
    [
      "log group missing",
      (f) => {
        f.logGroup = { name: "/ecs/exec", exists: false };
      },
      ["fail log-group"],
    ],
    [
      "log group unknowable",
      (f) => {
        f.logGroup = { name: "/ecs/exec", exists: { unknown: "AccessDeniedException: no" } };
      },
      ["unknown log-group"],
    ],
    [
      "OVERRIDE without destination",
      (f) => {
        f.cluster.execLogGroup = undefined;
        f.logGroup = undefined;
        f.taskRoleDecisions = allowed([
          "ssmmessages:CreateControlChannel",
          "ssmmessages:CreateDataChannel",
          "ssmmessages:OpenControlChannel",
          "ssmmessages:OpenDataChannel",
          "kms:Decrypt",
        ]);
      },
      ["fail cluster-logging"],
    ],
    [
      "old platform",
      (f) => {
        f.task.platformVersion = "1.3.0";
      },
      ["fail platform-version"],
    ],
    [
      "no task role",
      (f) => {
        (f.taskDefinition as { taskRoleArn?: string }).taskRoleArn = undefined;
        f.taskRole = undefined;
        f.taskRoleDecisions = undefined;
      },
      ["fail task-role"],
    ],
    [
      "task role gone",
      (f) => {
        f.taskRole = { arn: "r", exists: false };
      },
      ["fail task-role"],
    ],
    [
      "task role lacks ssmmessages",
      (f) => {
        (f.taskRoleDecisions as Record<string, string>)["ssmmessages:OpenDataChannel"] = "implicitDeny";
      },
      ["fail task-role-ssmmessages"],
    ],
    [
      "simulation impossible",
      (f) => {
        f.taskRoleDecisions = { unknown: "AccessDenied" };
        f.callerDecisions = { unknown: "AccessDenied" };
      },
      ["unknown task-role-ssmmessages", "unknown task-role-kms", "unknown task-role-logging", "unknown caller-execute-command"],
    ],
    [
      "caller may not exec",
      (f) => {
        f.callerDecisions = { "ecs:ExecuteCommand": "implicitDeny", "ssm:StartSession": "allowed" };
      },
      ["fail caller-execute-command"],
    ],
    // AWS recommends this Deny for exec-only users; ECS Exec does not need ssm:StartSession.
    [
      "caller denied StartSession",
      (f) => {
        f.callerDecisions = { "ecs:ExecuteCommand": "allowed", "ssm:StartSession": "explicitDeny" };
      },
      [],
    ],
    [
      "ExecuteCommand AccessDenied",
      (f) => {
        f.callerDecisions = { unknown: "x" };
        f.failure = { errorName: "AccessDeniedException", message: "ecs:ExecuteCommand on task 5f2e was denied" };
      },
      ["fail caller-execute-command"],
    ],
    [
      "read-only root",
      (f) => {
        (f.taskDefinition as { containers: Array<{ readonlyRootFilesystem: boolean }> }).containers[0].readonlyRootFilesystem = true;
      },
      ["fail readonly-root"],
    ],
    [
      "no init process",
      (f) => {
        (f.taskDefinition as { containers: Array<{ initProcessEnabled: boolean }> }).containers[0].initProcessEnabled = false;
      },
      ["warn init-process"],
    ],
    [
      "pidMode task",
      (f) => {
        (f.taskDefinition as { pidMode?: string }).pidMode = "task";
      },
      ["warn pid-mode"],
    ],
    [
      "Windows on 1.0.0",
      (f) => {
        f.task.platformVersion = "1.0.0";
        f.task.platformFamily = "WINDOWS_SERVER_2019_CORE";
      },
      [],
    ],
    [
      "Linux on 1.0.0",
      (f) => {
        f.task.platformVersion = "1.0.0";
        f.task.platformFamily = "Linux";
      },
      ["fail platform-version"],
    ],
    [
      "override role gone",
      (f) => {
        f.taskRole = { arn: "arn:aws:iam::123456789012:role/gone", exists: false, override: true };
      },
      ["fail task-role"],
    ],
    [
      "credentials in env",
      (f) => {
        (f.taskDefinition as { containerExtras: Array<{ credentialEnv: string[] }> }).containerExtras[0].credentialEnv = ["AWS_ACCESS_KEY_ID"];
      },
      ["warn credential-env"],
    ],
    [
      "plugin missing",
      (f) => {
        f.plugin = { missing: "not on PATH" };
      },
      ["fail plugin"],
    ],
    [
      "plugin old",
      (f) => {
        f.plugin = { version: "1.2.497.0" };
      },
      ["fail plugin"],
    ],
  ];
  it.each(broken)("%s: exactly its check changes", (_name, breakIt, expected) => {
    const facts = structuredClone(healthy());
    breakIt(facts);
    expect(notOk(facts)).toEqual(expected);
  });

  it("an unreadable task definition makes its checks ? and keeps the others", () => {
    const facts = healthy();
    facts.taskDefinition = { unknown: "AccessDeniedException: no" };
    facts.taskRole = undefined;
    facts.taskRoleDecisions = undefined;
    expect(statusOf(facts)).toMatchObject({
      "task-role": "unknown",
      "readonly-root": "unknown",
      "init-process": "unknown",
      "pid-mode": "unknown",
      "credential-env": "unknown",
      "exec-enabled": "ok",
    });
  });

  it("the summary counts the ? and ! lines when nothing failed", () => {
    const facts = healthy();
    (facts.taskDefinition as { pidMode?: string }).pidMode = "task";
    facts.logGroup = { name: "/ecs/exec", exists: { unknown: "AccessDeniedException: no" } };
    expect(summarize(evaluateChecks(facts))).toBe("No check failed; 1 could not be determined (?), 1 advised against (!).");
  });

  it("says where to look when Session Manager cannot connect though nothing failed", () => {
    const results = evaluateChecks(healthy());
    expect(summarize(results, { errorName: "TargetNotConnectedException", message: "m" })).toMatch(
      /^No check failed, yet Session Manager could not reach the task's agent\. Check that the task's subnets reach ssmmessages/,
    );
  });
});

describe("the task role's simulations", () => {
  const where = { partition: "aws", region: "ap-northeast-1", account: "123456789012" };
  it("each action on the ARN the agent's call is authorized on, the KMS one with the session's context", () => {
    const cluster = {
      name: "stg-main",
      arn: "arn:c",
      status: "ACTIVE",
      execLogging: "OVERRIDE",
      execLogGroup: "/ecs/exec",
      execKmsKeyId: "k-1",
      execS3Bucket: "logs-b",
      execS3KeyPrefix: "exec/",
      execS3EncryptionEnabled: true,
    };
    const context = { "kms:EncryptionContext:aws:ssm:SessionId": "s", "kms:EncryptionContext:aws:ssm:TargetId": "ecs:stg-main_t_r" };
    expect(taskRoleSimulations(cluster, { ...where, logGroup: "/ecs/exec", keyArn: kmsKeyArn("k-1", where), kmsContext: context })).toEqual([
      {
        actions: ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
        resource: "*",
      },
      { actions: ["kms:Decrypt"], resource: "arn:aws:kms:ap-northeast-1:123456789012:key/k-1", context },
      { actions: ["logs:DescribeLogGroups"], resource: "*" },
      {
        actions: ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
        resource: "arn:aws:logs:ap-northeast-1:123456789012:log-group:/ecs/exec:*",
      },
      { actions: ["s3:PutObject"], resource: "arn:aws:s3:::logs-b/exec/*" },
      { actions: ["s3:GetEncryptionConfiguration"], resource: "arn:aws:s3:::logs-b" },
    ]);
  });
  it("no KMS, logs or S3 simulation where the cluster configures none; GetEncryptionConfiguration only with S3 encryption", () => {
    expect(taskRoleSimulations({ name: "c", arn: "a", status: "ACTIVE", execLogging: "NONE" }, where).map((s) => s.actions[0])).toEqual([
      "ssmmessages:CreateControlChannel",
    ]);
    expect(taskRoleSimulations({ name: "c", arn: "a", status: "ACTIVE", execLogging: "OVERRIDE", execS3Bucket: "b" }, where).slice(1)).toEqual([
      { actions: ["s3:PutObject"], resource: "arn:aws:s3:::b/*" },
    ]);
  });
  it("names a key id, alias or ARN as an ARN", () => {
    expect(kmsKeyArn("arn:aws:kms:us-east-1:1:key/x", where)).toBe("arn:aws:kms:us-east-1:1:key/x");
    expect(kmsKeyArn("alias/exec", where)).toBe("arn:aws:kms:ap-northeast-1:123456789012:alias/exec");
  });
  it("a denied action is named with the resource it was simulated on", () => {
    const facts = healthy();
    facts.taskRoleDecisions = { ...(facts.taskRoleDecisions as Record<string, "allowed">), "logs:PutLogEvents": "implicitDeny" };
    facts.taskRoleResources = { "logs:PutLogEvents": "arn:aws:logs:ap-northeast-1:123456789012:log-group:/ecs/exec:*" };
    const line = evaluateChecks(facts).find((r) => r.id === "task-role-logging")!;
    expect(line.detail).toBe(
      "role arn:aws:iam::123456789012:role/stg-task is not allowed logs:PutLogEvents on arn:aws:logs:ap-northeast-1:123456789012:log-group:/ecs/exec:*",
    );
  });
});

describe("formatReport", () => {
  it("prints one line per check and the remedy under what is not ✓", () => {
    const facts = healthy();
    facts.task.enableExecuteCommand = false;
    const text = formatReport(evaluateChecks(facts).filter((r) => ["task-running", "exec-enabled"].includes(r.id)));
    expect(text).toBe(
      "  ✓ Task status              task 5f2e is RUNNING\n" +
        "  ✗ Execute command enabled  task 5f2e was started without enableExecuteCommand\n" +
        "                             → aws ecs update-service --cluster stg-main --service stg-app --enable-execute-command --force-new-deployment, then exec into a new task\n",
    );
  });
});

describe("principalOf", () => {
  it("evaluates an assumed-role session as its role", () => {
    expect(principalOf("arn:aws:sts::123456789012:assumed-role/ops/alice@example.com")).toEqual({ arn: "arn:aws:iam::123456789012:role/ops", roleName: "ops" });
    expect(principalOf("arn:aws:iam::123456789012:user/bob")).toEqual({ arn: "arn:aws:iam::123456789012:user/bob" });
  });
});

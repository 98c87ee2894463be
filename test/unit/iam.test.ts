// The proof that docker/iam/ matches the code: every action a program reaches (docker/iam/actions.ts,
// derived by bundling it) is allowed by its principal's policy, no policy allows an action no program
// calls, the policies are as narrow as their conditions promise, and — with the fixture under
// test/fixtures/iam-fixture — a call added without its permission makes the check fail.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { PROGRAMS, actionsByPrincipal, analyzeProgram, requiredActions, type Principal, type PrincipalActions } from "../../docker/iam/actions.ts";
import { actionAllowedSomewhere, allowedActionNames, evaluate, evaluatePolicies, statementPositions, type Request } from "../../docker/iam/evaluate.ts";
import { LEFTOVER_PLACEHOLDER, asList, checkRenderInput, loadTemplates, renderPolicies, type PolicyDocument } from "../../docker/iam/policies.ts";

const ROOT = join(import.meta.dirname, "../..");
const FIXTURE = join(ROOT, "test/fixtures/iam-fixture");
const INPUT = { env: "stg", account: "123456789012", region: "ap-northeast-1" };
const rendered = renderPolicies(INPUT);
const policyOf = (principal: Principal): PolicyDocument => rendered.policies[principal];

/** What each policy must allow and may allow: the derived actions, or for gaps the named reasons. */
function policyGaps(required: readonly string[], policy: PolicyDocument, mayAlsoAllow: readonly string[] = []) {
  const notAllowed = required.filter((a) => !actionAllowedSomewhere(policy, a));
  const permitted = new Set([...required, ...mayAlsoAllow]);
  const notCalled = allowedActionNames(policy).filter((a) => !permitted.has(a));
  return { notAllowed, notCalled };
}

/** The ECS Exec task role is used by the SSM agent ECS runs, not by our code (ECS developer guide, "ECS Exec" IAM permissions). */
const AGENT_ACTIONS = [
  "kms:Decrypt",
  "logs:CreateLogStream",
  "logs:DescribeLogGroups",
  "logs:DescribeLogStreams",
  "logs:PutLogEvents",
  "s3:GetEncryptionConfiguration",
  "s3:PutObject",
  "ssmmessages:CreateControlChannel",
  "ssmmessages:CreateDataChannel",
  "ssmmessages:OpenControlChannel",
  "ssmmessages:OpenDataChannel",
];

let derived: Record<Principal, PrincipalActions>;
beforeAll(async () => {
  derived = await actionsByPrincipal(ROOT);
}, 60_000);

describe("the actions each program calls, derived from its code", () => {
  it("entrypoint: the registration and cleanup calls, nothing of the sweeper's or the operator's", () => {
    expect(derived["entrypoint-task-role"].analyses.entrypoint.actions).toEqual([
      "ssm:AddTagsToResource",
      "ssm:CreateActivation",
      "ssm:DeleteActivation",
      "ssm:DeleteParameter",
      "ssm:DeregisterManagedInstance",
      "ssm:DescribeInstanceInformation",
      "ssm:GetParameter",
      "ssm:PutParameter",
      "sts:GetCallerIdentity",
    ]);
    expect(derived["entrypoint-task-role"].actions).toEqual(
      [...derived["entrypoint-task-role"].analyses.entrypoint.actions.filter((a) => a !== "sts:GetCallerIdentity"), "iam:PassRole"].sort(),
    );
  });

  it("cleanup-orphans: inventory reads and the four kinds of removal, and no CreateActivation or PutParameter", () => {
    expect(derived.sweeper.analyses["cleanup-orphans"].actions).toEqual([
      "ecs:DescribeTasks",
      "ecs:ListClusters",
      "ecs:ListTasks",
      "ecs:StopTask",
      "ssm:DeleteActivation",
      "ssm:DeleteParameter",
      "ssm:DeregisterManagedInstance",
      "ssm:DescribeActivations",
      "ssm:DescribeInstanceInformation",
      "ssm:DescribeParameters",
      "ssm:GetParametersByPath",
      "ssm:ListTagsForResource",
      "sts:GetCallerIdentity",
    ]);
  });

  it("every program's Commands stand for exactly the actions its call() wrappers name", () => {
    for (const entry of Object.values(derived)) {
      for (const analysis of Object.values(entry.analyses)) {
        expect({ script: analysis.script, actions: analysis.commandActions }).toEqual({ script: analysis.script, actions: analysis.actions });
      }
    }
  });

  it("implied actions: CreateActivation passes a role and tags, RunTask tags and passes roles", () => {
    expect(requiredActions(["ssm:CreateActivation"])).toEqual(["iam:PassRole", "ssm:AddTagsToResource", "ssm:CreateActivation"]);
    expect(requiredActions(["ecs:RunTask", "sts:GetCallerIdentity"])).toEqual(["ecs:RunTask", "ecs:TagResource", "iam:PassRole"]);
  });
});

describe("docker/iam/ against the code", () => {
  for (const principal of ["entrypoint-task-role", "sweeper", "operator"] as const) {
    it(`${principal}: allows every action its programs call, and nothing else`, () => {
      const { notAllowed, notCalled } = policyGaps(derived[principal].actions, policyOf(principal));
      expect({ notAllowed, notCalled }).toEqual({ notAllowed: [], notCalled: [] });
    });
  }

  it("every program of PROGRAMS is in the tree and analysed (none is judged by statements written ahead of it)", () => {
    expect(Object.values(derived).flatMap((e) => e.missing)).toEqual([]);
    expect(derived.operator.programs.sort()).toEqual(["exec", "portforward"]);
  });

  it("ecs-exec-task-role: exactly the SSM agent's channels and its optional KMS and log permissions", () => {
    expect(allowedActionNames(policyOf("ecs-exec-task-role" as Principal))).toEqual(AGENT_ACTIONS);
  });

  it("ssm-instance-role: the hybrid agent's report and channels and the same optional KMS and log permissions, no managed policy", () => {
    expect(allowedActionNames(policyOf("ssm-instance-role" as Principal))).toEqual([...AGENT_ACTIONS, "ssm:UpdateInstanceInformation"].sort());
    expect(rendered.managedPolicyAttachments).toEqual({});
  });

  it("every program in PROGRAMS runs as a principal that has a policy", () => {
    for (const program of Object.values(PROGRAMS)) expect(Object.keys(rendered.policies)).toContain(program.principal);
  });
});

describe("the check itself, shown on a fixture program (not on the product)", () => {
  const fixturePolicy = JSON.parse(readFileSync(join(FIXTURE, "policy.json"), "utf8")) as PolicyDocument;

  it("passes for the fixture program whose only call its policy allows; the unused calls are not counted", async () => {
    const analysis = await analyzeProgram("scripts/tool.mts", FIXTURE);
    expect(analysis.actions).toEqual(["ssm:DescribeParameters"]);
    expect(policyGaps(requiredActions(analysis.actions), fixturePolicy)).toEqual({ notAllowed: [], notCalled: [] });
  });

  it("fails, naming the action, once a delete is added without its permission", async () => {
    const analysis = await analyzeProgram("scripts/tool-plus-delete.mts", FIXTURE);
    expect(analysis.actions).toEqual(["ssm:DeleteParameter", "ssm:DescribeParameters"]);
    expect(policyGaps(requiredActions(analysis.actions), fixturePolicy)).toEqual({ notAllowed: ["ssm:DeleteParameter"], notCalled: [] });
  });

  it("fails when a policy allows an action the program does not call", async () => {
    const analysis = await analyzeProgram("scripts/tool.mts", FIXTURE);
    const wider: PolicyDocument = {
      ...fixturePolicy,
      Statement: [...fixturePolicy.Statement, { Effect: "Allow", Action: ["ssm:PutParameter"], Resource: "*" }],
    };
    expect(policyGaps(requiredActions(analysis.actions), wider)).toEqual({ notAllowed: [], notCalled: ["ssm:PutParameter"] });
  });

  it("an unconditional Deny takes the action away again", async () => {
    const analysis = await analyzeProgram("scripts/tool.mts", FIXTURE);
    const denied: PolicyDocument = { ...fixturePolicy, Statement: [...fixturePolicy.Statement, { Effect: "Deny", Action: "ssm:Describe*", Resource: "*" }] };
    expect(policyGaps(requiredActions(analysis.actions), denied).notAllowed).toEqual(["ssm:DescribeParameters"]);
  });

  it("catches a call wrapped under the wrong action: the Command says PutParameter, the wrapper GetParameter", async () => {
    const analysis = await analyzeProgram("scripts/tool-mislabeled.mts", FIXTURE);
    expect(analysis.actions).toEqual(["ssm:GetParameter"]);
    expect(analysis.commandActions).toEqual(["ssm:PutParameter"]);
  });
});

// ---- the requests the programs make, evaluated: allowed as the code makes them, refused otherwise ----

const SSM = "arn:aws:ssm:ap-northeast-1:123456789012";
const ECS = "arn:aws:ecs:ap-northeast-1:123456789012";
const OURS = { "bastionless:managed-by": "bastionless", "bastionless:env": "stg" };
const tags = (prefix: string, t: Record<string, string>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [`${prefix}/${k}`, v]));
const MI = `${SSM}:managed-instance/mi-0123456789abcdef0`;
const PARAM = `${SSM}:parameter/stg/portforward/instances/5f2e0c1d2b3a4f5e6d7c8b9a0f1e2d3c`;
const TASK_ID = "5f2e0c1d2b3a4f5e6d7c8b9a0f1e2d3c";
const TASK = `${ECS}:task/stg-main/${TASK_ID}`;
const KEY = "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const SESSION_KMS = (target: string) => ({
  "kms:EncryptionContext:aws:ssm:SessionId": "ecs-execute-command-0a1b2c3d4e5f60718",
  "kms:EncryptionContext:aws:ssm:TargetId": target,
});
const PROD = { ...OURS, "bastionless:env": "prod" };
/** aws:userid of an ECS task role's session: the role's id and the task. */
const ME = "AROAEXAMPLEROLEID:5f2e0c1d2b3a4f5e6d7c8b9a0f1e2d3c";
const MINE = { ...OURS, "bastionless:writer-id": ME };
const THEIRS = { ...OURS, "bastionless:writer-id": "AROAEXAMPLEROLEID:9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a" };

const ALLOWED: Record<string, Request[]> = {
  "entrypoint-task-role": [
    { action: "ssm:CreateActivation", resource: "*", context: { ...tags("aws:RequestTag", OURS), "aws:TagKeys": Object.keys(OURS) } },
    { action: "ssm:AddTagsToResource", resource: "*", context: tags("aws:RequestTag", OURS) },
    { action: "ssm:AddTagsToResource", resource: PARAM, context: tags("aws:RequestTag", OURS) },
    { action: "ssm:AddTagsToResource", resource: PARAM, context: { ...tags("aws:RequestTag", MINE), ...tags("ssm:resourceTag", MINE), "aws:userid": ME } },
    {
      action: "iam:PassRole",
      resource: "arn:aws:iam::123456789012:role/bastionless-stg-ssm-instance",
      context: { "iam:PassedToService": "ssm.amazonaws.com" },
    },
    { action: "ssm:DeleteActivation", resource: "*" },
    { action: "ssm:DescribeInstanceInformation", resource: "*" },
    { action: "ssm:DeregisterManagedInstance", resource: MI, context: tags("ssm:resourceTag", OURS) },
    { action: "ssm:PutParameter", resource: PARAM, context: { ...tags("aws:RequestTag", MINE), "aws:userid": ME } },
    { action: "ssm:PutParameter", resource: PARAM, context: { "ssm:Overwrite": "true", ...tags("ssm:resourceTag", MINE), "aws:userid": ME } },
    { action: "ssm:GetParameter", resource: PARAM },
    { action: "ssm:DeleteParameter", resource: PARAM, context: { ...tags("ssm:resourceTag", MINE), "aws:userid": ME } },
  ],
  "ecs-exec-task-role": [
    ...["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"].map((action) => ({
      action,
      resource: "*",
    })),
    { action: "kms:Decrypt", resource: KEY, context: SESSION_KMS(`ecs:stg-main_${TASK_ID}_${TASK_ID}-3594056034`) },
    { action: "logs:CreateLogStream", resource: "arn:aws:logs:ap-northeast-1:123456789012:log-group:/bastionless/stg/exec:*" },
    { action: "logs:PutLogEvents", resource: "arn:aws:logs:ap-northeast-1:123456789012:log-group:/bastionless/stg/exec:log-stream:ecs-execute-command-0a1b" },
    { action: "s3:PutObject", resource: "arn:aws:s3:::bastionless-stg-exec/exec/ecs-execute-command-0a1b.log" },
    { action: "s3:GetEncryptionConfiguration", resource: "arn:aws:s3:::bastionless-stg-exec" },
  ],
  "ssm-instance-role": [
    { action: "ssm:UpdateInstanceInformation", resource: MI },
    ...["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"].map((action) => ({
      action,
      resource: "*",
    })),
    { action: "kms:Decrypt", resource: KEY, context: SESSION_KMS("mi-0123456789abcdef0") },
  ],
  sweeper: [
    { action: "ssm:DescribeActivations", resource: "*" },
    { action: "ssm:DescribeInstanceInformation", resource: "*" },
    { action: "ssm:DescribeParameters", resource: "*" },
    { action: "ecs:ListClusters", resource: "*" },
    { action: "ssm:ListTagsForResource", resource: MI },
    { action: "ssm:ListTagsForResource", resource: PARAM },
    { action: "ssm:GetParametersByPath", resource: `${SSM}:parameter/stg/portforward/instances/` },
    { action: "ssm:DeleteParameter", resource: PARAM },
    { action: "ssm:DeregisterManagedInstance", resource: MI, context: tags("ssm:resourceTag", OURS) },
    { action: "ssm:DeleteActivation", resource: "*" },
    { action: "ecs:ListTasks", resource: "*", context: { "ecs:cluster": `${ECS}:cluster/stg-main` } },
    { action: "ecs:DescribeTasks", resource: TASK, context: { "ecs:cluster": `${ECS}:cluster/stg-main` } },
    { action: "ecs:StopTask", resource: TASK, context: { ...tags("aws:ResourceTag", OURS), "ecs:cluster": `${ECS}:cluster/stg-main` } },
  ],
  operator: [
    {
      action: "ecs:RunTask",
      resource: `${ECS}:task-definition/stg-bastion:7`,
      context: { "ecs:cluster": `${ECS}:cluster/stg-main`, "ecs:enable-execute-command": "true", ...tags("aws:RequestTag", OURS) },
    },
    { action: "ecs:TagResource", resource: TASK, context: { "ecs:CreateAction": "RunTask", ...tags("aws:RequestTag", OURS) } },
    { action: "iam:PassRole", resource: "arn:aws:iam::123456789012:role/stg-bastion-task", context: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
    { action: "ecs:StopTask", resource: TASK, context: tags("aws:ResourceTag", OURS) },
    { action: "ecs:ExecuteCommand", resource: TASK },
    { action: "ecs:ExecuteCommand", resource: `${ECS}:cluster/stg-main` },
    { action: "ssm:StartSession", resource: TASK },
    { action: "ssm:StartSession", resource: TASK, context: { "ssm:SessionDocumentAccessCheck": "true" } },
    { action: "ssm:StartSession", resource: MI, context: tags("ssm:resourceTag", OURS) },
    { action: "ssm:StartSession", resource: "arn:aws:ssm:ap-northeast-1::document/AWS-StartPortForwardingSessionToRemoteHost" },
    {
      action: "ssm:TerminateSession",
      resource: `${SSM}:session/AROAEXAMPLE:alice-0a1b2c3d4e5f`,
      context: { "aws:userid": "AROAEXAMPLE:alice", "ssm:resourceTag/aws:ssmmessages:session-id": "AROAEXAMPLE:alice" },
    },
    {
      action: "kms:GenerateDataKey",
      resource: "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
      context: { "kms:EncryptionContext:aws:ssm:SessionId": "alice-0a1b", "kms:EncryptionContext:aws:ssm:TargetId": "mi-0123456789abcdef0" },
    },
    {
      action: "kms:GenerateDataKey",
      resource: KEY,
      context: {
        "kms:EncryptionContext:aws:ssm:SessionId": "alice-0a1b",
        "kms:EncryptionContext:aws:ssm:TargetId": `ecs:stg-main_${TASK_ID}_${TASK_ID}-3594056034`,
      },
    },
    { action: "ssm:GetParameter", resource: PARAM },
    { action: "ecs:ListClusters", resource: "*" },
    { action: "ecs:ListServices", resource: "*", context: { "ecs:cluster": `${ECS}:cluster/stg-main` } },
    { action: "ecs:ListTasks", resource: "*", context: { "ecs:cluster": `${ECS}:cluster/stg-main` } },
    { action: "ecs:DescribeClusters", resource: `${ECS}:cluster/stg-main` },
    { action: "ecs:DescribeServices", resource: `${ECS}:service/stg-main/stg-app`, context: { "ecs:cluster": `${ECS}:cluster/stg-main` } },
    { action: "ecs:DescribeTasks", resource: TASK },
    { action: "ecs:DescribeTaskDefinition", resource: "*" },
    { action: "rds:DescribeDBClusters", resource: "*" },
    { action: "rds:DescribeDBInstances", resource: "*" },
    { action: "ssm:DescribeInstanceInformation", resource: "*" },
    {
      action: "ssm:ResumeSession",
      resource: `${SSM}:session/AROAEXAMPLE:alice-0a1b2c3d4e5f`,
      context: { "aws:userid": "AROAEXAMPLE:alice", "ssm:resourceTag/aws:ssmmessages:session-id": "AROAEXAMPLE:alice" },
    },
    { action: "iam:GetRole", resource: "arn:aws:iam::123456789012:role/stg-app-task" },
    { action: "iam:SimulatePrincipalPolicy", resource: "arn:aws:iam::123456789012:role/stg-app-task" },
    { action: "iam:SimulatePrincipalPolicy", resource: "arn:aws:iam::123456789012:user/alice", context: { "aws:username": "alice" } },
    { action: "logs:DescribeLogGroups", resource: "*" },
    { action: "s3:ListBucket", resource: "arn:aws:s3:::bastionless-stg-exec" },
  ],
};

const REFUSED: Record<string, Array<Request & { why: string; keyed?: boolean }>> = {
  "entrypoint-task-role": [
    { why: "an activation without our tags", action: "ssm:CreateActivation", resource: "*" },
    {
      why: "an activation tagged for another env",
      action: "ssm:CreateActivation",
      resource: "*",
      context: tags("aws:RequestTag", { ...OURS, "bastionless:env": "prod" }),
    },
    {
      why: "passing any other role",
      action: "iam:PassRole",
      resource: "arn:aws:iam::123456789012:role/Admin",
      context: { "iam:PassedToService": "ssm.amazonaws.com" },
    },
    {
      why: "passing the instance role to another service",
      action: "iam:PassRole",
      resource: "arn:aws:iam::123456789012:role/bastionless-stg-ssm-instance",
      context: { "iam:PassedToService": "ec2.amazonaws.com" },
    },
    {
      why: "deregistering an instance that is not ours",
      action: "ssm:DeregisterManagedInstance",
      resource: MI,
      context: { "ssm:resourceTag/team": "payments" },
    },
    {
      why: "deregistering prod's instance",
      action: "ssm:DeregisterManagedInstance",
      resource: MI,
      context: tags("ssm:resourceTag", { ...OURS, "bastionless:env": "prod" }),
    },
    { why: "writing a parameter outside the env's folder", action: "ssm:PutParameter", resource: `${SSM}:parameter/stg/db/password` },
    { why: "prod's parameters", action: "ssm:DeleteParameter", resource: `${SSM}:parameter/prod/portforward/instances/x` },
    { why: "another region", action: "ssm:GetParameter", resource: "arn:aws:ssm:us-east-1:123456789012:parameter/stg/portforward/instances/x" },
    {
      why: "retagging prod's parameter into stg",
      action: "ssm:AddTagsToResource",
      resource: `${SSM}:parameter/prod/portforward/instances/x`,
      context: { ...tags("aws:RequestTag", OURS), ...tags("ssm:resourceTag", PROD) },
    },
    {
      why: "retagging any other parameter already tagged ours",
      action: "ssm:AddTagsToResource",
      resource: `${SSM}:parameter/stg/db/password`,
      context: { ...tags("aws:RequestTag", MINE), ...tags("ssm:resourceTag", MINE), "aws:userid": ME },
    },
    {
      why: "overwriting another task's parameter",
      action: "ssm:PutParameter",
      resource: PARAM,
      context: { "ssm:Overwrite": "true", ...tags("ssm:resourceTag", THEIRS), "aws:userid": ME },
    },
    {
      why: "deleting another task's parameter",
      action: "ssm:DeleteParameter",
      resource: PARAM,
      context: { ...tags("ssm:resourceTag", THEIRS), "aws:userid": ME },
    },
    {
      why: "retagging another task's parameter as its own",
      action: "ssm:AddTagsToResource",
      resource: PARAM,
      context: { ...tags("aws:RequestTag", MINE), ...tags("ssm:resourceTag", THEIRS), "aws:userid": ME },
    },
    {
      why: "creating a parameter in another writer's name",
      action: "ssm:PutParameter",
      resource: PARAM,
      context: { ...tags("aws:RequestTag", THEIRS), "aws:userid": ME },
    },
    {
      why: "creating a parameter without a writer",
      action: "ssm:PutParameter",
      resource: PARAM,
      context: { ...tags("aws:RequestTag", OURS), "aws:userid": ME },
    },
  ],
  "ecs-exec-task-role": [
    { why: "decrypting a prod session's key", action: "kms:Decrypt", resource: KEY, context: SESSION_KMS(`ecs:prod-main_${TASK_ID}_${TASK_ID}-1`) },
    { why: "decrypting outside a session", action: "kms:Decrypt", resource: KEY },
    {
      why: "another key when the policy is rendered for one",
      action: "kms:Decrypt",
      resource: "arn:aws:kms:ap-northeast-1:123456789012:key/99999999-12ab-34cd-56ef-1234567890ab",
      context: SESSION_KMS(`ecs:stg-main_${TASK_ID}_${TASK_ID}-1`),
      keyed: true,
    },
    { why: "another log group", action: "logs:PutLogEvents", resource: "arn:aws:logs:ap-northeast-1:123456789012:log-group:/aws/lambda/payments:log-stream:x" },
    { why: "another bucket", action: "s3:PutObject", resource: "arn:aws:s3:::prod-db-backups/dump.sql" },
  ],
  "ssm-instance-role": [
    {
      why: "reading prod's database password (AmazonSSMManagedInstanceCore allowed it)",
      action: "ssm:GetParameter",
      resource: `${SSM}:parameter/prod/db/password`,
    },
    { why: "reading parameters in bulk", action: "ssm:GetParameters", resource: `${SSM}:parameter/prod/stripe/secret-key` },
    { why: "reading a document", action: "ssm:GetDocument", resource: `${SSM}:document/SSM-SessionManagerRunShell` },
    { why: "Run Command's message channel", action: "ec2messages:GetMessages", resource: "*" },
    { why: "decrypting an ECS Exec session's key", action: "kms:Decrypt", resource: KEY, context: SESSION_KMS(`ecs:stg-main_${TASK_ID}_${TASK_ID}-1`) },
  ],
  sweeper: [
    { why: "stopping an app task (not tagged by us)", action: "ecs:StopTask", resource: TASK, context: { "aws:ResourceTag/team": "payments" } },
    { why: "stopping a task in prod's cluster", action: "ecs:StopTask", resource: `${ECS}:task/prod-main/abc`, context: tags("aws:ResourceTag", OURS) },
    { why: "deregistering an untagged instance", action: "ssm:DeregisterManagedInstance", resource: MI },
    { why: "listing tasks of another env's cluster", action: "ecs:ListTasks", resource: "*", context: { "ecs:cluster": `${ECS}:cluster/prod-main` } },
    { why: "creating anything", action: "ssm:CreateActivation", resource: "*", context: tags("aws:RequestTag", OURS) },
  ],
  operator: [
    {
      why: "running any task definition but the env's bastion",
      action: "ecs:RunTask",
      resource: `${ECS}:task-definition/stg-app:3`,
      context: { "ecs:cluster": `${ECS}:cluster/stg-main`, "ecs:enable-execute-command": "true", ...tags("aws:RequestTag", OURS) },
    },
    {
      why: "a bastion without ECS Exec",
      action: "ecs:RunTask",
      resource: `${ECS}:task-definition/stg-bastion:7`,
      context: { "ecs:cluster": `${ECS}:cluster/stg-main`, "ecs:enable-execute-command": "false", ...tags("aws:RequestTag", OURS) },
    },
    {
      why: "a bastion in prod's cluster",
      action: "ecs:RunTask",
      resource: `${ECS}:task-definition/stg-bastion:7`,
      context: { "ecs:cluster": `${ECS}:cluster/prod-main`, "ecs:enable-execute-command": "true", ...tags("aws:RequestTag", OURS) },
    },
    { why: "tagging a task outside RunTask", action: "ecs:TagResource", resource: TASK, context: tags("aws:RequestTag", OURS) },
    { why: "stopping an app task", action: "ecs:StopTask", resource: TASK, context: { "aws:ResourceTag/team": "payments" } },
    {
      why: "passing the bastion role to another service",
      action: "iam:PassRole",
      resource: "arn:aws:iam::123456789012:role/stg-bastion-task",
      context: { "iam:PassedToService": "lambda.amazonaws.com" },
    },
    { why: "a session on a foreign managed instance", action: "ssm:StartSession", resource: MI, context: { "ssm:resourceTag/team": "payments" } },
    {
      why: "a session with a document other than the named ones",
      action: "ssm:StartSession",
      resource: "arn:aws:ssm:ap-northeast-1::document/AWS-RunShellScript",
    },
    {
      why: "terminating someone else's session",
      action: "ssm:TerminateSession",
      resource: `${SSM}:session/AROAEXAMPLE:bob-0a1b`,
      context: { "aws:userid": "AROAEXAMPLE:alice", "ssm:resourceTag/aws:ssmmessages:session-id": "AROAEXAMPLE:bob" },
    },
    {
      why: "a data key outside a session",
      action: "kms:GenerateDataKey",
      resource: "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    },
    { why: "exec into prod", action: "ecs:ExecuteCommand", resource: `${ECS}:task/prod-main/abc` },
    { why: "listing services of prod's cluster", action: "ecs:ListServices", resource: "*", context: { "ecs:cluster": `${ECS}:cluster/prod-main` } },
    { why: "deleting the instance parameter", action: "ssm:DeleteParameter", resource: PARAM },
    {
      why: "simulating prod's admin role",
      action: "iam:SimulatePrincipalPolicy",
      resource: "arn:aws:iam::123456789012:role/prod-admin",
      context: { "aws:username": "alice" },
    },
    {
      why: "reading any role",
      action: "iam:GetRole",
      resource: "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole",
      context: { "aws:username": "alice" },
    },
    {
      why: "simulating another user",
      action: "iam:SimulatePrincipalPolicy",
      resource: "arn:aws:iam::123456789012:user/bob",
      context: { "aws:username": "alice" },
    },
    { why: "listing prod's backup bucket", action: "s3:ListBucket", resource: "arn:aws:s3:::prod-db-backups" },
    {
      why: "a data key for a prod task's session",
      action: "kms:GenerateDataKey",
      resource: KEY,
      context: SESSION_KMS(`ecs:prod-main_${TASK_ID}_${TASK_ID}-1`),
    },
    {
      why: "a data key with the target only (no session)",
      action: "kms:GenerateDataKey",
      resource: KEY,
      context: { "kms:EncryptionContext:aws:ssm:TargetId": `ecs:stg-main_${TASK_ID}_${TASK_ID}-1` },
    },
    {
      why: "a session on a task whose document access check is off",
      action: "ssm:StartSession",
      resource: TASK,
      context: { "ssm:SessionDocumentAccessCheck": "false" },
    },
  ],
};

/** Refused by an explicit Deny: no later Allow can give these back. */
const DENIED: Record<string, Array<Request & { why: string }>> = {
  "entrypoint-task-role": [
    {
      why: "retagging a prod managed instance into stg",
      action: "ssm:AddTagsToResource",
      resource: MI,
      context: { ...tags("aws:RequestTag", OURS), ...tags("ssm:resourceTag", PROD) },
    },
    { why: "tagging an on-prem server (no tags) as stg's", action: "ssm:AddTagsToResource", resource: MI, context: tags("aws:RequestTag", OURS) },
    {
      why: "tagging a document",
      action: "ssm:AddTagsToResource",
      resource: `${SSM}:document/SSM-SessionManagerRunShell`,
      context: tags("aws:RequestTag", OURS),
    },
    {
      why: "removing prod's env tag from its instance",
      action: "ssm:RemoveTagsFromResource",
      resource: MI,
      context: { "aws:TagKeys": ["bastionless:env"], ...tags("ssm:resourceTag", PROD) },
    },
  ],
};

describe("requests as the programs make them", () => {
  for (const [principal, requests] of Object.entries(ALLOWED)) {
    it(`${principal}: allowed`, () => {
      const decisions = requests.map((r) => `${r.action} ${r.resource} → ${evaluate(policyOf(principal as Principal), r)}`);
      expect(decisions).toEqual(requests.map((r) => `${r.action} ${r.resource} → allow`));
    });
  }
  const keyed = renderPolicies({ ...INPUT, kmsKey: "1234abcd-12ab-34cd-56ef-1234567890ab" });
  for (const [principal, requests] of Object.entries(REFUSED)) {
    it(`${principal}: refused`, () => {
      const decisions = requests.map((r) => `${r.why} → ${evaluate((r.keyed ? keyed : rendered).policies[principal], r)}`);
      expect(decisions).toEqual(requests.map((r) => `${r.why} → implicit-deny`));
    });
  }
  for (const [principal, requests] of Object.entries(DENIED)) {
    it(`${principal}: explicitly denied`, () => {
      const decisions = requests.map((r) => `${r.why} → ${evaluate(policyOf(principal as Principal), r)}`);
      expect(decisions).toEqual(requests.map((r) => `${r.why} → deny`));
    });
  }

  it("the prod entrypoint can still deregister its own instance: stg could not retag it", () => {
    const prod = renderPolicies({ ...INPUT, env: "prod" }).policies["entrypoint-task-role"];
    expect(evaluate(prod, { action: "ssm:DeregisterManagedInstance", resource: MI, context: tags("ssm:resourceTag", PROD) })).toBe("allow");
    expect(evaluate(policyOf("entrypoint-task-role"), { action: "ssm:DeregisterManagedInstance", resource: MI, context: tags("ssm:resourceTag", PROD) })).toBe(
      "implicit-deny",
    );
  });

  it("every action a present program calls has an example request above", () => {
    const covered = (p: string) => new Set((ALLOWED[p] ?? []).map((r) => r.action));
    const uncovered = (["entrypoint-task-role", "sweeper", "operator"] as const).flatMap((p) =>
      derived[p].actions.filter((a) => !covered(p).has(a)).map((a) => `${p} ${a}`),
    );
    expect(uncovered).toEqual([]);
  });
});

describe("rendering and narrowness", () => {
  const MUTATING_ON_STAR_EXCEPTIONS = new Set([
    "entrypoint-task-role CreateTaggedActivation ssm:CreateActivation",
    "entrypoint-task-role TagOnCreate ssm:AddTagsToResource",
    "entrypoint-task-role DeleteActivation ssm:DeleteActivation",
    "sweeper DeleteActivations ssm:DeleteActivation",
    "ecs-exec-task-role SessionManagerChannels ssmmessages:CreateControlChannel",
    "ecs-exec-task-role SessionManagerChannels ssmmessages:CreateDataChannel",
    "ecs-exec-task-role SessionManagerChannels ssmmessages:OpenControlChannel",
    "ecs-exec-task-role SessionManagerChannels ssmmessages:OpenDataChannel",
    "ssm-instance-role SessionManagerChannels ssmmessages:CreateControlChannel",
    "ssm-instance-role SessionManagerChannels ssmmessages:CreateDataChannel",
    "ssm-instance-role SessionManagerChannels ssmmessages:OpenControlChannel",
    "ssm-instance-role SessionManagerChannels ssmmessages:OpenDataChannel",
  ]);
  const READ = /^[a-z0-9-]+:(Describe|List|Get|Simulate)/;

  it('no Resource "*" on a mutating action except the exceptions named in docker/iam/README.md', () => {
    const readme = readFileSync(join(ROOT, "docker/iam/README.md"), "utf8");
    const found: string[] = [];
    for (const [name, policy] of Object.entries(rendered.policies)) {
      for (const s of policy.Statement) {
        if (s.Effect !== "Allow" || !asList(s.Resource).includes("*")) continue;
        for (const action of asList(s.Action))
          if (!READ.test(action) && action !== "ecs:ListTasks" && action !== "ecs:ListServices") found.push(`${name} ${s.Sid} ${action}`);
      }
    }
    expect(found.sort()).toEqual([...MUTATING_ON_STAR_EXCEPTIONS].sort());
    for (const exception of MUTATING_ON_STAR_EXCEPTIONS) expect(readme).toContain(`\`${exception.split(" ")[2]}\``);
  });

  it("every statement has a Sid that docker/iam/README.md explains, and no Action holds a wildcard", () => {
    const readme = readFileSync(join(ROOT, "docker/iam/README.md"), "utf8");
    for (const [name, policy] of Object.entries(loadTemplates())) {
      for (const s of policy.Statement) {
        expect(s.Sid, `${name}: a statement without Sid`).toMatch(/^[A-Za-z0-9]+$/);
        expect(readme, `${name} ${s.Sid}`).toContain(`\`${s.Sid}\``);
        for (const action of asList(s.Action)) expect(action).toMatch(/^[a-z0-9-]+:[A-Za-z0-9]+$/);
      }
    }
  });

  it("fills every placeholder and keeps IAM's own ${aws:userid}", () => {
    const text = JSON.stringify(rendered);
    expect(text).not.toMatch(LEFTOVER_PLACEHOLDER);
    expect(text).toContain("arn:aws:ssm:ap-northeast-1:123456789012:parameter/stg/portforward/instances/*");
    expect(text).toContain('"${aws:userid}"');
    expect(JSON.stringify(renderPolicies({ env: "prod", account: "210987654321", region: "cn-north-1" }))).toContain(
      "arn:aws-cn:iam::210987654321:role/bastionless-prod-ssm-instance",
    );
  });

  it("checks its inputs: 12-digit account, env and region shapes, every problem at once", () => {
    expect(checkRenderInput(INPUT)).toEqual([]);
    expect(checkRenderInput({ env: "stg", account: "12345678901", region: "ap-northeast-1" })).toEqual(["ACCOUNT=12345678901 must be exactly 12 digits"]);
    expect(checkRenderInput({})).toHaveLength(3);
    expect(checkRenderInput({ env: "st g", account: "123456789012", region: "Tokyo" })).toHaveLength(2);
    expect(checkRenderInput({ ...INPUT, kmsKey: "alias/aws/ssm", execLogBucket: "Bad_Bucket" })).toEqual([
      "KMS_KEY=alias/aws/ssm must be a key id such as 1234abcd-12ab-34cd-56ef-1234567890ab (not an ARN or alias)",
      "EXEC_LOG_BUCKET=Bad_Bucket is not an S3 bucket name (3–63 lower-case letters, digits, . or -)",
    ]);
  });

  it("KMS_KEY and EXEC_LOG_BUCKET narrow the key and bucket statements; without them, any key and bastionless-<env>-exec", () => {
    const text = JSON.stringify(renderPolicies({ ...INPUT, kmsKey: "1234abcd-12ab-34cd-56ef-1234567890ab", execLogBucket: "acme-stg-sessions" }));
    expect(text).not.toContain("key/*");
    expect(text).toContain("arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    expect(text).toContain("arn:aws:s3:::acme-stg-sessions/*");
    expect(text).not.toContain("bastionless-stg-exec");
    const plain = JSON.stringify(rendered);
    expect(plain).toContain("arn:aws:kms:ap-northeast-1:123456789012:key/*");
    expect(plain).toContain("arn:aws:s3:::bastionless-stg-exec");
    expect(plain).not.toContain("arn:aws:s3:::*");
  });

  it("make iam prints valid JSON, and refuses a malformed ACCOUNT with exit 2 and one line", () => {
    const out = execFileSync("make", ["-s", "iam", "ENV=stg", "ACCOUNT=123456789012", "REGION=ap-northeast-1"], { cwd: ROOT, encoding: "utf8" });
    const parsed = JSON.parse(out) as { policies: Record<string, unknown> };
    expect(Object.keys(parsed.policies).sort()).toEqual([
      "ecs-exec-task-role",
      "entrypoint-task-role",
      "operator",
      "ssm-instance-role",
      "ssm-instance-role-trust",
      "sweeper",
    ]);
    expect(out).not.toMatch(LEFTOVER_PLACEHOLDER);
    const bad = spawnSync("make", ["-s", "iam", "ENV=stg", "ACCOUNT=12345", "REGION=ap-northeast-1"], { cwd: ROOT, encoding: "utf8" });
    expect(bad.stdout).toBe("");
    expect(
      bad.stderr
        .trim()
        .split("\n")
        .filter((l) => !/^make(\[\d+\])?:/.test(l)),
    ).toEqual(["make iam: ACCOUNT=12345 must be exactly 12 digits."]);
    const direct = spawnSync(
      join(ROOT, "node_modules/.bin/tsx"),
      ["docker/iam/render.mts", "--env", "stg", "--account", "12345", "--region", "ap-northeast-1"],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(direct.status).toBe(2);
  });
});

describe("the evaluator over several policies (the local cloud's authorization and simulator use it too)", () => {
  const allowAll: PolicyDocument = { Version: "2012-10-17", Statement: [{ Sid: "All", Effect: "Allow", Action: "ssm:*", Resource: "*" }] };
  const denyProd: PolicyDocument = {
    Version: "2012-10-17",
    Statement: [{ Effect: "Deny", Action: "ssm:StartSession", Resource: "*", Condition: { StringEquals: { "ssm:resourceTag/bastionless:env": "prod" } } }],
  };
  const policies = [
    { id: "all", type: "role" as const, document: allowAll },
    { id: "deny-prod", type: "user-managed" as const, document: denyProd },
  ];

  it("a Deny in any policy wins and is the only statement matched; condition key names are case-insensitive", () => {
    const denied = evaluatePolicies(policies, { action: "ssm:StartSession", resource: MI, context: { "SSM:ResourceTag/bastionless:env": "prod" } });
    expect([denied.decision, denied.matched.map((m) => `${m.policy.id}#${m.index}`)]).toEqual(["deny", ["deny-prod#0"]]);
    const allowed = evaluatePolicies(policies, { action: "ssm:StartSession", resource: MI, context: { "ssm:resourceTag/bastionless:env": "stg" } });
    expect([allowed.decision, allowed.matched.map((m) => m.policy.id), allowed.missingContextKeys]).toEqual(["allow", ["all"], []]);
  });

  it("a key the request lacks is absent, not empty, and is reported as missing", () => {
    const out = evaluatePolicies(policies, { action: "ssm:StartSession", resource: MI });
    expect([out.decision, out.missingContextKeys]).toEqual(["allow", ["ssm:resourceTag/bastionless:env"]]);
    expect(evaluatePolicies(policies, { action: "ssm:StartSession", resource: MI, context: { "ssm:resourceTag/bastionless:env": "" } }).decision).toBe("allow");
  });

  it("policy variables in Resource are filled from the request", () => {
    const own: PolicyDocument = {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "iam:GetUser", Resource: "arn:aws:iam::123456789012:user/${aws:username}" }],
    };
    const request = (name: string) => ({ action: "iam:GetUser", resource: "arn:aws:iam::123456789012:user/alice", context: { "aws:username": name } });
    expect([evaluate(own, request("alice")), evaluate(own, request("bob")), evaluate(own, { ...request("x"), context: {} })]).toEqual([
      "allow",
      "implicit-deny",
      "implicit-deny",
    ]);
  });

  it("statement positions: line and column of each statement's braces in the policy's text", () => {
    const text =
      '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow", "Action": "a:B", "Resource": "*"},\n    {\n      "Effect": "Deny", "Action": "a:C", "Resource": "x}"\n    }\n  ]\n}';
    expect(statementPositions(text)).toEqual([
      { start: { line: 4, column: 5 }, end: { line: 4, column: 58 } },
      { start: { line: 5, column: 5 }, end: { line: 7, column: 6 } },
    ]);
  });
});

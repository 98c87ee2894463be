// The proof that docker/iam/ matches the code: every action a program reaches (lib/aws/actions.ts,
// derived by bundling it) is allowed by its principal's policy, no policy allows an action no program
// calls, the policies are as narrow as their conditions promise, and — with the fixture under
// test/fixtures/iam-fixture — a call added without its permission makes the check fail.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { PROGRAMS, actionsByPrincipal, analyzeProgram, requiredActions, type Principal, type PrincipalActions } from "../../lib/aws/actions.ts";
import { actionAllowedSomewhere, allowedActionNames, evaluate, type Request } from "../../docker/iam/evaluate.ts";
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
  "logs:CreateLogStream", "logs:DescribeLogGroups", "logs:DescribeLogStreams", "logs:PutLogEvents",
  "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
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
    ]);
    expect(derived["entrypoint-task-role"].actions).toEqual([...derived["entrypoint-task-role"].analyses.entrypoint.actions, "iam:PassRole"].sort());
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
    const wider: PolicyDocument = { ...fixturePolicy, Statement: [...fixturePolicy.Statement, { Effect: "Allow", Action: ["ssm:PutParameter"], Resource: "*" }] };
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
const TASK = `${ECS}:task/stg-main/5f2e0c1d2b3a4f5e6d7c8b9a0f1e2d3c`;

const ALLOWED: Record<string, Request[]> = {
  "entrypoint-task-role": [
    { action: "ssm:CreateActivation", resource: "*", context: { ...tags("aws:RequestTag", OURS), "aws:TagKeys": Object.keys(OURS) } },
    { action: "ssm:AddTagsToResource", resource: "*", context: tags("aws:RequestTag", OURS) },
    { action: "ssm:AddTagsToResource", resource: PARAM, context: tags("aws:RequestTag", OURS) },
    { action: "iam:PassRole", resource: "arn:aws:iam::123456789012:role/bastionless-stg-ssm-instance", context: { "iam:PassedToService": "ssm.amazonaws.com" } },
    { action: "ssm:DeleteActivation", resource: "*" },
    { action: "ssm:DescribeInstanceInformation", resource: "*" },
    { action: "ssm:DeregisterManagedInstance", resource: MI, context: tags("ssm:resourceTag", OURS) },
    { action: "ssm:PutParameter", resource: PARAM, context: tags("aws:RequestTag", OURS) },
    { action: "ssm:PutParameter", resource: PARAM, context: { "ssm:Overwrite": "true" } },
    { action: "ssm:GetParameter", resource: PARAM },
    { action: "ssm:DeleteParameter", resource: PARAM },
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
    { action: "ecs:RunTask", resource: `${ECS}:task-definition/stg-bastion:7`, context: { "ecs:cluster": `${ECS}:cluster/stg-main`, "ecs:enable-execute-command": "true", ...tags("aws:RequestTag", OURS) } },
    { action: "ecs:TagResource", resource: TASK, context: { "ecs:CreateAction": "RunTask", ...tags("aws:RequestTag", OURS) } },
    { action: "iam:PassRole", resource: "arn:aws:iam::123456789012:role/stg-bastion-task", context: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
    { action: "ecs:StopTask", resource: TASK, context: tags("aws:ResourceTag", OURS) },
    { action: "ecs:ExecuteCommand", resource: TASK },
    { action: "ecs:ExecuteCommand", resource: `${ECS}:cluster/stg-main` },
    { action: "ssm:StartSession", resource: TASK },
    { action: "ssm:StartSession", resource: MI, context: tags("ssm:resourceTag", OURS) },
    { action: "ssm:StartSession", resource: "arn:aws:ssm:ap-northeast-1::document/AWS-StartPortForwardingSessionToRemoteHost" },
    { action: "ssm:TerminateSession", resource: `${SSM}:session/AROAEXAMPLE:alice-0a1b2c3d4e5f`, context: { "aws:userid": "AROAEXAMPLE:alice", "ssm:resourceTag/aws:ssmmessages:session-id": "AROAEXAMPLE:alice" } },
    { action: "kms:GenerateDataKey", resource: "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", context: { "kms:EncryptionContext:aws:ssm:SessionId": "alice-0a1b", "kms:EncryptionContext:aws:ssm:TargetId": "mi-0123456789abcdef0" } },
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
    { action: "ssm:ResumeSession", resource: `${SSM}:session/AROAEXAMPLE:alice-0a1b2c3d4e5f`, context: { "aws:userid": "AROAEXAMPLE:alice", "ssm:resourceTag/aws:ssmmessages:session-id": "AROAEXAMPLE:alice" } },
    { action: "iam:GetRole", resource: "arn:aws:iam::123456789012:role/stg-app-task" },
    { action: "iam:SimulatePrincipalPolicy", resource: "arn:aws:iam::123456789012:role/stg-app-task" },
    { action: "logs:DescribeLogGroups", resource: "*" },
    { action: "s3:ListBucket", resource: "arn:aws:s3:::stg-exec-logs" },
  ],
};

const REFUSED: Record<string, Array<Request & { why: string }>> = {
  "entrypoint-task-role": [
    { why: "an activation without our tags", action: "ssm:CreateActivation", resource: "*" },
    { why: "an activation tagged for another env", action: "ssm:CreateActivation", resource: "*", context: tags("aws:RequestTag", { ...OURS, "bastionless:env": "prod" }) },
    { why: "passing any other role", action: "iam:PassRole", resource: "arn:aws:iam::123456789012:role/Admin", context: { "iam:PassedToService": "ssm.amazonaws.com" } },
    { why: "passing the instance role to another service", action: "iam:PassRole", resource: "arn:aws:iam::123456789012:role/bastionless-stg-ssm-instance", context: { "iam:PassedToService": "ec2.amazonaws.com" } },
    { why: "deregistering an instance that is not ours", action: "ssm:DeregisterManagedInstance", resource: MI, context: { "ssm:resourceTag/team": "payments" } },
    { why: "deregistering prod's instance", action: "ssm:DeregisterManagedInstance", resource: MI, context: tags("ssm:resourceTag", { ...OURS, "bastionless:env": "prod" }) },
    { why: "writing a parameter outside the env's folder", action: "ssm:PutParameter", resource: `${SSM}:parameter/stg/db/password` },
    { why: "prod's parameters", action: "ssm:DeleteParameter", resource: `${SSM}:parameter/prod/portforward/instances/x` },
    { why: "another region", action: "ssm:GetParameter", resource: "arn:aws:ssm:us-east-1:123456789012:parameter/stg/portforward/instances/x" },
  ],
  sweeper: [
    { why: "stopping an app task (not tagged by us)", action: "ecs:StopTask", resource: TASK, context: { "aws:ResourceTag/team": "payments" } },
    { why: "stopping a task in prod's cluster", action: "ecs:StopTask", resource: `${ECS}:task/prod-main/abc`, context: tags("aws:ResourceTag", OURS) },
    { why: "deregistering an untagged instance", action: "ssm:DeregisterManagedInstance", resource: MI },
    { why: "listing tasks of another env's cluster", action: "ecs:ListTasks", resource: "*", context: { "ecs:cluster": `${ECS}:cluster/prod-main` } },
    { why: "creating anything", action: "ssm:CreateActivation", resource: "*", context: tags("aws:RequestTag", OURS) },
  ],
  operator: [
    { why: "running any task definition but the env's bastion", action: "ecs:RunTask", resource: `${ECS}:task-definition/stg-app:3`, context: { "ecs:cluster": `${ECS}:cluster/stg-main`, "ecs:enable-execute-command": "true", ...tags("aws:RequestTag", OURS) } },
    { why: "a bastion without ECS Exec", action: "ecs:RunTask", resource: `${ECS}:task-definition/stg-bastion:7`, context: { "ecs:cluster": `${ECS}:cluster/stg-main`, "ecs:enable-execute-command": "false", ...tags("aws:RequestTag", OURS) } },
    { why: "a bastion in prod's cluster", action: "ecs:RunTask", resource: `${ECS}:task-definition/stg-bastion:7`, context: { "ecs:cluster": `${ECS}:cluster/prod-main`, "ecs:enable-execute-command": "true", ...tags("aws:RequestTag", OURS) } },
    { why: "tagging a task outside RunTask", action: "ecs:TagResource", resource: TASK, context: tags("aws:RequestTag", OURS) },
    { why: "stopping an app task", action: "ecs:StopTask", resource: TASK, context: { "aws:ResourceTag/team": "payments" } },
    { why: "passing the bastion role to another service", action: "iam:PassRole", resource: "arn:aws:iam::123456789012:role/stg-bastion-task", context: { "iam:PassedToService": "lambda.amazonaws.com" } },
    { why: "a session on a foreign managed instance", action: "ssm:StartSession", resource: MI, context: { "ssm:resourceTag/team": "payments" } },
    { why: "a session with a document other than the named ones", action: "ssm:StartSession", resource: "arn:aws:ssm:ap-northeast-1::document/AWS-RunShellScript" },
    { why: "terminating someone else's session", action: "ssm:TerminateSession", resource: `${SSM}:session/AROAEXAMPLE:bob-0a1b`, context: { "aws:userid": "AROAEXAMPLE:alice", "ssm:resourceTag/aws:ssmmessages:session-id": "AROAEXAMPLE:bob" } },
    { why: "a data key outside a session", action: "kms:GenerateDataKey", resource: "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" },
    { why: "exec into prod", action: "ecs:ExecuteCommand", resource: `${ECS}:task/prod-main/abc` },
    { why: "listing services of prod's cluster", action: "ecs:ListServices", resource: "*", context: { "ecs:cluster": `${ECS}:cluster/prod-main` } },
    { why: "deleting the instance parameter", action: "ssm:DeleteParameter", resource: PARAM },
  ],
};

describe("requests as the programs make them", () => {
  for (const [principal, requests] of Object.entries(ALLOWED)) {
    it(`${principal}: allowed`, () => {
      const decisions = requests.map((r) => `${r.action} ${r.resource} → ${evaluate(policyOf(principal as Principal), r)}`);
      expect(decisions).toEqual(requests.map((r) => `${r.action} ${r.resource} → allow`));
    });
  }
  for (const [principal, requests] of Object.entries(REFUSED)) {
    it(`${principal}: refused`, () => {
      const decisions = requests.map((r) => `${r.why} → ${evaluate(policyOf(principal as Principal), r)}`);
      expect(decisions).toEqual(requests.map((r) => `${r.why} → implicit-deny`));
    });
  }

  it("every action a present program calls has an example request above", () => {
    const covered = (p: string) => new Set((ALLOWED[p] ?? []).map((r) => r.action));
    const uncovered = (["entrypoint-task-role", "sweeper", "operator"] as const).flatMap((p) => derived[p].actions.filter((a) => !covered(p).has(a)).map((a) => `${p} ${a}`));
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
  ]);
  const READ = /^[a-z0-9-]+:(Describe|List|Get|Simulate)/;

  it("no Resource \"*\" on a mutating action except the exceptions named in docker/iam/README.md", () => {
    const readme = readFileSync(join(ROOT, "docker/iam/README.md"), "utf8");
    const found: string[] = [];
    for (const [name, policy] of Object.entries(rendered.policies)) {
      for (const s of policy.Statement) {
        if (s.Effect !== "Allow" || !asList(s.Resource).includes("*")) continue;
        for (const action of asList(s.Action)) if (!READ.test(action) && action !== "ecs:ListTasks" && action !== "ecs:ListServices") found.push(`${name} ${s.Sid} ${action}`);
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
    expect(rendered.managedPolicyAttachments).toEqual({ "ssm-instance-role": ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"] });
    expect(JSON.stringify(renderPolicies({ env: "prod", account: "210987654321", region: "cn-north-1" }))).toContain("arn:aws-cn:iam::210987654321:role/bastionless-prod-ssm-instance");
  });

  it("checks its inputs: 12-digit account, env and region shapes, every problem at once", () => {
    expect(checkRenderInput(INPUT)).toEqual([]);
    expect(checkRenderInput({ env: "stg", account: "12345678901", region: "ap-northeast-1" })).toEqual(["ACCOUNT=12345678901 must be exactly 12 digits"]);
    expect(checkRenderInput({})).toHaveLength(3);
    expect(checkRenderInput({ env: "st g", account: "123456789012", region: "Tokyo" })).toHaveLength(2);
  });

  it("make iam prints valid JSON, and refuses a malformed ACCOUNT with exit 2 and one line", () => {
    const out = execFileSync("make", ["-s", "iam", "ENV=stg", "ACCOUNT=123456789012", "REGION=ap-northeast-1"], { cwd: ROOT, encoding: "utf8" });
    const parsed = JSON.parse(out) as { policies: Record<string, unknown> };
    expect(Object.keys(parsed.policies).sort()).toEqual(["ecs-exec-task-role", "entrypoint-task-role", "operator", "ssm-instance-role-trust", "sweeper"]);
    expect(out).not.toMatch(LEFTOVER_PLACEHOLDER);
    const bad = spawnSync("make", ["-s", "iam", "ENV=stg", "ACCOUNT=12345", "REGION=ap-northeast-1"], { cwd: ROOT, encoding: "utf8" });
    expect(bad.stdout).toBe("");
    expect(bad.stderr.trim().split("\n").filter((l) => !/^make(\[\d+\])?:/.test(l))).toEqual(["make iam: ACCOUNT=12345 must be exactly 12 digits."]);
    const direct = spawnSync(join(ROOT, "node_modules/.bin/tsx"), ["docker/iam/render.mts", "--env", "stg", "--account", "12345", "--region", "ap-northeast-1"], { cwd: ROOT, encoding: "utf8" });
    expect(direct.status).toBe(2);
  });
});

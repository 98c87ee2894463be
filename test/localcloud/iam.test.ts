// IAM in the local cloud: every signed request authorized for its caller, and iam:SimulatePrincipalPolicy answered by docker/iam/evaluate.ts over the
// principal's policies as moto stores them (inline, attached managed, group), in IAM's shapes, read
// by SDK v3, by lib/aws/iam.ts and by CLI v1 (what amazon-ecs-exec-checker runs).
import { ECSClient, RegisterTaskDefinitionCommand, CreateClusterCommand, RunTaskCommand } from "@aws-sdk/client-ecs";
import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import {
  AddUserToGroupCommand,
  AttachRolePolicyCommand,
  CreateAccessKeyCommand,
  CreateGroupCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  IAMClient,
  PutGroupPolicyCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
  SimulatePrincipalPolicyCommand,
} from "@aws-sdk/client-iam";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulatePrincipalPolicy } from "../../lib/aws/iam.ts";
import { renderPolicies } from "../../docker/iam/policies.ts";
import { startLocalCloud, type LocalCloud } from "./index.ts";
import { run, sdkConfig, waitFor } from "./test-helpers.ts";

const ACCOUNT = "123456789012";
const REGION = "ap-northeast-1";
const rendered = renderPolicies({ env: "stg", account: ACCOUNT, region: REGION });
const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
});
const STG_TASK = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/stg-main/0123456789abcdef0123456789abcdef`;
const PROD_TASK = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/prod-main/0123456789abcdef0123456789abcdef`;
const OPERATOR = `arn:aws:iam::${ACCOUNT}:role/operator`;
// Pretty-printed as a person writes it: the statement positions are IAM's line/column in this text.
const DENY_PROD_EXEC = JSON.stringify(
  {
    Version: "2012-10-17",
    Statement: [{ Sid: "NoProdExec", Effect: "Deny", Action: "ecs:ExecuteCommand", Resource: `arn:aws:ecs:*:*:task/prod-*` }],
  },
  null,
  2,
);

let cloud: LocalCloud;
let iam: IAMClient;

beforeAll(async () => {
  cloud = await startLocalCloud();
  iam = new IAMClient(sdkConfig(cloud));
  await iam.send(new CreateRoleCommand({ RoleName: "operator", AssumeRolePolicyDocument: TRUST }));
  await iam.send(new PutRolePolicyCommand({ RoleName: "operator", PolicyName: "operator", PolicyDocument: JSON.stringify(rendered.policies.operator) }));
  const deny = await iam.send(new CreatePolicyCommand({ PolicyName: "deny-prod-exec", PolicyDocument: DENY_PROD_EXEC }));
  await iam.send(new AttachRolePolicyCommand({ RoleName: "operator", PolicyArn: deny.Policy!.Arn }));
  await iam.send(new CreateUserCommand({ UserName: "alice" }));
  await iam.send(new CreateGroupCommand({ GroupName: "readers" }));
  await iam.send(new AddUserToGroupCommand({ UserName: "alice", GroupName: "readers" }));
  await iam.send(
    new PutGroupPolicyCommand({
      GroupName: "readers",
      PolicyName: "list-clusters",
      PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: { Effect: "Allow", Action: "ecs:List*", Resource: "*" } }),
    }),
  );
}, 60_000);

afterAll(async () => {
  iam?.destroy();
  await cloud?.stop();
});

const simulate = (input: Partial<ConstructorParameters<typeof SimulatePrincipalPolicyCommand>[0]>) =>
  iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: OPERATOR, ActionNames: [], ...input }));

describe("iam:SimulatePrincipalPolicy", () => {
  it("allowed: the statement that allows it, by policy name, type and position", async () => {
    const out = await simulate({ ActionNames: ["ecs:ExecuteCommand"], ResourceArns: [STG_TASK] });
    expect(out.IsTruncated).toBe(false);
    expect(out.EvaluationResults).toEqual([
      {
        EvalActionName: "ecs:ExecuteCommand",
        EvalResourceName: STG_TASK,
        EvalDecision: "allowed",
        MatchedStatements: [{ SourcePolicyId: "operator", SourcePolicyType: "role", StartPosition: expect.any(Object), EndPosition: expect.any(Object) }],
        MissingContextValues: [],
        EvalDecisionDetails: {},
        ResourceSpecificResults: [
          {
            EvalResourceName: STG_TASK,
            EvalResourceDecision: "allowed",
            MatchedStatements: [expect.objectContaining({ SourcePolicyId: "operator" })],
            MissingContextValues: [],
          },
        ],
      },
    ]);
  });

  it("explicitDeny: only the Deny statement is matched, at its line and column in the managed policy", async () => {
    const [result] = (await simulate({ ActionNames: ["ecs:ExecuteCommand"], ResourceArns: [PROD_TASK] })).EvaluationResults!;
    expect(result.EvalDecision).toBe("explicitDeny");
    // DENY_PROD_EXEC's only statement opens on line 4, column 5 and closes on line 9 (its `}` at column 5).
    expect(result.MatchedStatements).toEqual([
      { SourcePolicyId: "deny-prod-exec", SourcePolicyType: "user-managed", StartPosition: { Line: 4, Column: 5 }, EndPosition: { Line: 9, Column: 6 } },
    ]);
  });

  it("implicitDeny with no statement; the most restrictive decision over several resources, each resource's own below", async () => {
    const out = await simulate({ ActionNames: ["ecs:StopTask", "ecs:ExecuteCommand"], ResourceArns: [STG_TASK, PROD_TASK] });
    expect(
      out.EvaluationResults!.map((r) => [r.EvalActionName, r.EvalDecision, r.EvalResourceName, r.ResourceSpecificResults!.map((x) => x.EvalResourceDecision)]),
    ).toEqual([
      ["ecs:StopTask", "implicitDeny", undefined, ["implicitDeny", "implicitDeny"]],
      ["ecs:ExecuteCommand", "explicitDeny", undefined, ["allowed", "explicitDeny"]],
    ]);
    expect(out.EvaluationResults![0].MatchedStatements).toEqual([]);
  });

  it("MissingContextValues names the keys a conditional statement reads; ContextEntries supply them", async () => {
    const session = `arn:aws:ssm:${REGION}:${ACCOUNT}:session/AROAEXAMPLE:alice-0123456789abcdef0`;
    const [without] = (await simulate({ ActionNames: ["ssm:TerminateSession"], ResourceArns: [session] })).EvaluationResults!;
    expect([without.EvalDecision, without.MissingContextValues]).toEqual(["implicitDeny", ["aws:userid", "ssm:resourceTag/aws:ssmmessages:session-id"]]);
    const entries = [
      { ContextKeyName: "aws:userid", ContextKeyValues: ["AROAEXAMPLE:alice"], ContextKeyType: "string" as const },
      { ContextKeyName: "ssm:resourceTag/aws:ssmmessages:session-id", ContextKeyValues: ["AROAEXAMPLE:alice"], ContextKeyType: "string" as const },
    ];
    const [withKeys] = (await simulate({ ActionNames: ["ssm:TerminateSession"], ResourceArns: [session], ContextEntries: entries })).EvaluationResults!;
    expect([withKeys.EvalDecision, withKeys.MissingContextValues]).toEqual(["allowed", []]);
    const other = [entries[0], { ...entries[1], ContextKeyValues: ["AROAEXAMPLE:bob"] }];
    expect((await simulate({ ActionNames: ["ssm:TerminateSession"], ResourceArns: [session], ContextEntries: other })).EvaluationResults![0].EvalDecision).toBe(
      "implicitDeny",
    );
  });

  it("without ResourceArns the resource is *, with no per-resource results", async () => {
    const [r] = (await simulate({ ActionNames: ["ecs:ListClusters"] })).EvaluationResults!;
    expect([r.EvalResourceName, r.EvalDecision, r.ResourceSpecificResults, r.EvalDecisionDetails]).toEqual(["*", "allowed", undefined, undefined]);
  });

  it("a user is evaluated with its groups' policies; PolicyInputList adds policies to the simulation", async () => {
    const alice = `arn:aws:iam::${ACCOUNT}:user/alice`;
    const [list] = (await simulate({ PolicySourceArn: alice, ActionNames: ["ecs:ListTasks"] })).EvaluationResults!;
    expect([list.EvalDecision, list.MatchedStatements![0].SourcePolicyId, list.MatchedStatements![0].SourcePolicyType]).toEqual([
      "allowed",
      "list-clusters",
      "group",
    ]);
    const extra = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Deny", Action: "ecs:*", Resource: "*" }] });
    const [denied] = (await simulate({ PolicySourceArn: alice, ActionNames: ["ecs:ListTasks"], PolicyInputList: [extra] })).EvaluationResults!;
    expect([denied.EvalDecision, denied.MatchedStatements![0].SourcePolicyId]).toEqual(["explicitDeny", "PolicyInputList.1"]);
  });

  it("an unknown role is NoSuchEntity", async () => {
    await expect(simulate({ PolicySourceArn: `arn:aws:iam::${ACCOUNT}:role/nobody`, ActionNames: ["ecs:ListTasks"] })).rejects.toMatchObject({
      name: "NoSuchEntityException",
      message: "The role with name nobody cannot be found.",
    });
  });

  it("lib/aws/iam.ts (exec --check's pre-flight) reads the decisions", async () => {
    expect(await simulatePrincipalPolicy(iam, OPERATOR, ["ecs:ExecuteCommand", "ecs:RunTask"], STG_TASK)).toEqual({
      "ecs:ExecuteCommand": "allowed",
      "ecs:RunTask": "implicitDeny",
    });
  });

  it("CLI v1, as amazon-ecs-exec-checker calls it, reads the same answer", async () => {
    const ran = await run(
      "aws",
      [
        "iam",
        "simulate-principal-policy",
        "--policy-source-arn",
        OPERATOR,
        "--action-names",
        "ecs:ExecuteCommand",
        "--resource-arns",
        PROD_TASK,
        "--output",
        "text",
        "--query",
        "EvaluationResults[0].EvalDecision",
      ],
      cloud.env,
    );
    expect([ran.code, ran.stdout.trim()]).toEqual([0, "explicitDeny"]);
  });
});

const allow = (Action: string | string[], Resource: string | string[], Condition?: object) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action, Resource, ...(Condition ? { Condition } : {}) }] });

describe("every signed request is authorized for its caller", () => {
  let userKeys: { accessKeyId: string; secretAccessKey: string };
  const as = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) => ({ ...sdkConfig(cloud), credentials });

  beforeAll(async () => {
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "alice" }))).AccessKey!;
    userKeys = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    await iam.send(
      new PutUserPolicyCommand({
        UserName: "alice",
        PolicyName: "stg-parameters",
        PolicyDocument: allow("ssm:GetParameter", `arn:aws:ssm:*:${ACCOUNT}:parameter/stg/*`),
      }),
    );
    const root = new SSMClient(sdkConfig(cloud));
    for (const env of ["stg", "prod"]) await root.send(new PutParameterCommand({ Name: `/${env}/db/password`, Value: `${env}-pw`, Type: "String" }));
    root.destroy();
  });

  it("a user's allowed call runs; another resource is AccessDeniedException in AWS's words", async () => {
    const ssm = new SSMClient(as(userKeys));
    try {
      expect((await ssm.send(new GetParameterCommand({ Name: "/stg/db/password" }))).Parameter!.Value).toBe("stg-pw");
      await expect(ssm.send(new GetParameterCommand({ Name: "/prod/db/password" }))).rejects.toMatchObject({
        name: "AccessDeniedException",
        message: `User: arn:aws:iam::${ACCOUNT}:user/alice is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/prod/db/password because no identity-based policy allows the ssm:GetParameter action`,
      });
    } finally {
      ssm.destroy();
    }
  });

  it("an explicit Deny says so; a group's policy counts; a policy change applies to the next call", async () => {
    const ssm = new SSMClient(as(userKeys));
    try {
      await iam.send(
        new PutGroupPolicyCommand({
          GroupName: "readers",
          PolicyName: "no-passwords",
          PolicyDocument: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Deny", Action: "ssm:GetParameter*", Resource: "arn:aws:ssm:*:*:parameter/*/db/password" }],
          }),
        }),
      );
      await expect(ssm.send(new GetParameterCommand({ Name: "/stg/db/password" }))).rejects.toMatchObject({
        name: "AccessDeniedException",
        message: `User: arn:aws:iam::${ACCOUNT}:user/alice is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/stg/db/password with an explicit deny in an identity-based policy`,
      });
    } finally {
      ssm.destroy();
    }
  });

  it("an unknown key is UnrecognizedClientException (JSON) and InvalidClientTokenId (query), never the root", async () => {
    const stranger = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "x".repeat(40) };
    const ssm = new SSMClient(as(stranger));
    const sts = new STSClient(as(stranger));
    try {
      await expect(ssm.send(new GetParameterCommand({ Name: "/stg/db/password" }))).rejects.toMatchObject({
        name: "UnrecognizedClientException",
        message: "The security token included in the request is invalid.",
        $metadata: { httpStatusCode: 400 },
      });
      await expect(sts.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
        name: "InvalidClientTokenId",
        message: "The security token included in the request is invalid.",
        $metadata: { httpStatusCode: 403 },
      });
    } finally {
      ssm.destroy();
      sts.destroy();
    }
  });

  it("an unsigned call is refused, except the agent's RegisterManagedInstance", async () => {
    const post = (target: string) =>
      fetch(cloud.endpoint, { method: "POST", headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": target }, body: "{}" });
    const refused = await post("AmazonSSM.GetParameter");
    expect([refused.status, await refused.json()]).toEqual([403, { __type: "MissingAuthenticationTokenException", message: "Missing Authentication Token" }]);
    const agent = await post("AmazonSSM.RegisterManagedInstance");
    expect(((await agent.json()) as { __type: string }).__type).not.toBe("MissingAuthenticationTokenException");
  });

  it("an assumed role's session: its key and token identify it, the role's policies apply, IAM names the role in its AccessDenied", async () => {
    const sts = new STSClient(sdkConfig(cloud));
    const role = await iam.send(new CreateRoleCommand({ RoleName: "reader", AssumeRolePolicyDocument: TRUST }));
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: "reader",
        PolicyName: "p",
        PolicyDocument: allow(["ssm:GetParameter", "sts:GetCallerIdentity"], `arn:aws:ssm:*:${ACCOUNT}:parameter/stg/*`),
      }),
    );
    const out = await sts.send(new AssumeRoleCommand({ RoleArn: role.Role!.Arn, RoleSessionName: "task-1" }));
    sts.destroy();
    const c = out.Credentials!;
    const session = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
    const ssm = new SSMClient(as(session));
    const asRole = new IAMClient(as(session));
    const noToken = new SSMClient(as({ ...session, sessionToken: undefined }));
    try {
      expect((await ssm.send(new GetParameterCommand({ Name: "/stg/db/password" }))).Parameter!.Value).toBe("stg-pw");
      await expect(asRole.send(new GetRoleCommand({ RoleName: "reader" }))).rejects.toMatchObject({
        name: "AccessDenied",
        message: `User: arn:aws:sts::${ACCOUNT}:assumed-role/reader/task-1 is not authorized to perform: iam:GetRole on resource: role reader because no identity-based policy allows the iam:GetRole action`,
        $metadata: { httpStatusCode: 403 },
      });
      await expect(noToken.send(new GetParameterCommand({ Name: "/stg/db/password" }))).rejects.toMatchObject({ name: "UnrecognizedClientException" });
      await iam.send(new DeleteRolePolicyCommand({ RoleName: "reader", PolicyName: "p" }));
      await expect(ssm.send(new GetParameterCommand({ Name: "/stg/db/password" }))).rejects.toMatchObject({ name: "AccessDeniedException" });
    } finally {
      for (const client of [ssm, asRole, noToken]) client.destroy();
    }
  });

  it("RunTask is also iam:PassRole of the task's roles to ECS, and S3 HeadBucket is s3:ListBucket (403, no body)", async () => {
    const ecsRoot = new ECSClient(sdkConfig(cloud));
    await ecsRoot.send(new CreateClusterCommand({ clusterName: "stg-main" }));
    const taskRole = await iam.send(new CreateRoleCommand({ RoleName: "stg-bastion-task", AssumeRolePolicyDocument: TRUST }));
    await ecsRoot.send(
      new RegisterTaskDefinitionCommand({
        family: "stg-bastion",
        taskRoleArn: taskRole.Role!.Arn,
        containerDefinitions: [{ name: "bastion", image: "example/none", memory: 128 }],
      }),
    );
    ecsRoot.destroy();
    await iam.send(new CreateUserCommand({ UserName: "runner" }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: "runner",
        PolicyName: "run",
        PolicyDocument: allow("ecs:RunTask", `arn:aws:ecs:*:${ACCOUNT}:task-definition/stg-bastion:*`),
      }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "runner" }))).AccessKey!;
    const runner = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    const ecs = new ECSClient(as(runner));
    const s3 = new S3Client({ ...as(runner), forcePathStyle: true });
    try {
      await expect(ecs.send(new RunTaskCommand({ cluster: "stg-main", taskDefinition: "stg-bastion" }))).rejects.toMatchObject({
        name: "AccessDeniedException",
        message: `User: arn:aws:iam::${ACCOUNT}:user/runner is not authorized to perform: iam:PassRole on resource: ${taskRole.Role!.Arn} because no identity-based policy allows the iam:PassRole action`,
      });
      await expect(s3.send(new HeadBucketCommand({ Bucket: "exec-logs" }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    } finally {
      ecs.destroy();
      s3.destroy();
    }
  });

  it("a task with a task role gets that role's session from the credentials endpoint, and no static key", async () => {
    const ecs = new ECSClient(sdkConfig(cloud));
    try {
      await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: "probe",
          taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/stg-bastion-task`,
          containerDefinitions: [{ name: "app", image: "localcloud/app", memory: 128 }],
        }),
      );
      // The container reports what it was given, never the secrets themselves.
      const probe = [
        "const uri = process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI;",
        "const c = await (await fetch(uri)).json();",
        "const other = await fetch(uri.replace(/[0-9a-f-]{36}$/, '00000000-0000-0000-0000-000000000000'));",
        "console.log(JSON.stringify({ static: process.env.AWS_ACCESS_KEY_ID ?? null, role: c.RoleArn, key: c.AccessKeyId.slice(0, 4), token: typeof c.Token, expires: Date.parse(c.Expiration) > Date.now(), other: other.status }));",
      ].join(" ");
      const task = (
        await ecs.send(
          new RunTaskCommand({
            cluster: "stg-main",
            taskDefinition: "probe",
            launchType: "FARGATE",
            overrides: { containerOverrides: [{ name: "app", command: [process.execPath, "--input-type=module", "-e", probe] }] },
          }),
        )
      ).tasks![0];
      const taskId = task.taskArn!.split("/").pop()!;
      let logs = "";
      const report = await waitFor(
        "the probe's line",
        async () => {
          logs = ((await (await fetch(`${cloud.endpoint}/_localcloud/logs/${taskId}`)).json()) as Record<string, string>).app ?? "";
          return /\{"static".*\}/.exec(logs)?.[0];
        },
        30_000,
      ).catch((error: Error) => Promise.reject(new Error(`${error.message}; the container said: ${logs}`)));
      expect(JSON.parse(report)).toEqual({
        static: null,
        role: `arn:aws:iam::${ACCOUNT}:role/stg-bastion-task`,
        key: "ASIA",
        token: "string",
        expires: true,
        other: 404,
      });
    } finally {
      ecs.destroy();
    }
  });
});

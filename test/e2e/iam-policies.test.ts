// docker/iam/'s least privilege, proven by what the local cloud denies: each principal holds exactly
// its rendered policy (an assumed role's session, or an IAM user's key), and the calls a compromised
// container or a curious operator would make are AccessDenied by the gateway's IAM, while the calls
// the programs make still run (the control beside each refusal).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  IAMClient,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
  SimulatePrincipalPolicyCommand,
} from "@aws-sdk/client-iam";
import { CreateKeyCommand, DecryptCommand, GenerateDataKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { CreateBucketCommand, HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import {
  AddTagsToResourceCommand,
  CreateActivationCommand,
  DeregisterManagedInstanceCommand,
  GetParameterCommand,
  GetParametersCommand,
  ListTagsForResourceCommand,
  DeleteParameterCommand,
  PutParameterCommand,
  SSMClient,
  type Tag,
} from "@aws-sdk/client-ssm";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { renderPolicies, type PolicyDocument } from "../../docker/iam/policies.ts";
import { AGENT_BIN, startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { run } from "../support/run.ts";
import { cloudConfig } from "../support/clients.ts";

const ACCOUNT = "123456789012";
const REGION = "ap-northeast-1";
const policies = (env: string) => renderPolicies({ env, account: ACCOUNT, region: REGION }).policies;
const ours = (env: string, source: string): Tag[] => [
  { Key: "bastionless:managed-by", Value: "bastionless" },
  { Key: "bastionless:env", Value: env },
  { Key: "bastionless:source", Value: source },
];
const trust = (service: string) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }] });
const STG_TASK = "0123456789abcdef0123456789abcdef";
const SESSION = "ecs-execute-command-0a1b2c3d4e5f60718";

let cloud: LocalCloud;
let dir: string;
let root: { ssm: SSMClient; iam: IAMClient; kms: KMSClient };
type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const as = (credentials: Credentials, extra: Record<string, unknown> = {}) => cloudConfig(cloud, { credentials, ...extra });
const made: Array<{ destroy(): void }> = [];
const client = <T extends { destroy(): void }>(c: T): T => (made.push(c), c);

/** A role holding exactly `policy`, and a session of it as its service would get one (ECS names it after the task). */
async function roleSession(name: string, service: string, policy: PolicyDocument): Promise<Credentials> {
  await root.iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust(service) }));
  await root.iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: "bastionless", PolicyDocument: JSON.stringify(policy) }));
  return session(name, STG_TASK);
}

async function session(roleName: string, sessionName: string): Promise<Credentials> {
  const sts = client(new STSClient(cloudConfig(cloud)));
  const c = (await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${ACCOUNT}:role/${roleName}`, RoleSessionName: sessionName }))).Credentials!;
  return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
}

const userIdOf = async (credentials: Credentials) => (await client(new STSClient(as(credentials))).send(new GetCallerIdentityCommand({}))).UserId!;

/** A managed instance registered by the fake agent from an activation with these tags (AWS copies them onto it). */
async function managedInstance(name: string, tags: Tag[]): Promise<string> {
  const a = await root.ssm.send(new CreateActivationCommand({ IamRole: "bastionless-prod-ssm-instance", ...(tags.length ? { Tags: tags } : {}) }));
  const file = join(dir, name, "registration");
  await run(AGENT_BIN, ["-register", "-code", a.ActivationCode!, "-id", a.ActivationId!, "-region", REGION, "-y"], {
    env: { ...cloud.env, SSM_REGISTRATION_FILE: file },
  });
  return (JSON.parse(readFileSync(file, "utf8")) as { ManagedInstanceID: string }).ManagedInstanceID;
}

const tagsOf = async (id: string) =>
  Object.fromEntries(
    ((await root.ssm.send(new ListTagsForResourceCommand({ ResourceType: "ManagedInstance", ResourceId: id }))).TagList ?? []).map((t) => [t.Key, t.Value]),
  );
const denied = (action: string) => ({ name: "AccessDeniedException", message: expect.stringContaining(`is not authorized to perform: ${action}`) });

let stgEntrypoint: Credentials;
let prodEntrypoint: Credentials;
let instanceRole: Credentials;
let execRole: Credentials;
let operator: Credentials;
let prodInstance: string;
let onPremInstance: string;
let key: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "iam-policies-"));
  cloud = await startLocalCloud();
  root = { ssm: client(new SSMClient(cloudConfig(cloud))), iam: client(new IAMClient(cloudConfig(cloud))), kms: client(new KMSClient(cloudConfig(cloud))) };
  stgEntrypoint = await roleSession("stg-entrypoint-task", "ecs-tasks.amazonaws.com", policies("stg")["entrypoint-task-role"]);
  prodEntrypoint = await roleSession("prod-entrypoint-task", "ecs-tasks.amazonaws.com", policies("prod")["entrypoint-task-role"]);
  instanceRole = await roleSession("bastionless-stg-ssm-instance", "ssm.amazonaws.com", policies("stg")["ssm-instance-role"]);
  execRole = await roleSession("stg-app-task", "ecs-tasks.amazonaws.com", policies("stg")["ecs-exec-task-role"]);
  await root.iam.send(new CreateUserCommand({ UserName: "alice" }));
  await root.iam.send(new PutUserPolicyCommand({ UserName: "alice", PolicyName: "operator", PolicyDocument: JSON.stringify(policies("stg").operator) }));
  const k = (await root.iam.send(new CreateAccessKeyCommand({ UserName: "alice" }))).AccessKey!;
  operator = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
  prodInstance = await managedInstance("prod", ours("prod", `arn:aws:ecs:${REGION}:${ACCOUNT}:task/prod-main/fedcba9876543210fedcba9876543210`));
  onPremInstance = await managedInstance("on-prem", []);
  await root.ssm.send(new PutParameterCommand({ Name: "/prod/db/password", Value: "prod-db-Secret-42", Type: "SecureString" }));
  await root.ssm.send(
    new PutParameterCommand({
      Name: "/prod/portforward/instances/fedcba9876543210fedcba9876543210",
      Value: prodInstance,
      Type: "String",
      Tags: ours("prod", "x"),
    }),
  );
  key = (await root.kms.send(new CreateKeyCommand({ Description: "session keys" }))).KeyMetadata!.Arn!;
  await root.iam.send(new CreateRoleCommand({ RoleName: "prod-admin", AssumeRolePolicyDocument: trust("ec2.amazonaws.com") }));
}, 60_000);

afterAll(async () => {
  for (const c of made) c.destroy();
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the entrypoint task role (stg)", () => {
  it("cannot retag a prod managed instance into stg, nor an untagged on-prem server: AccessDenied, the tags unchanged", async () => {
    const ssm = client(new SSMClient(as(stgEntrypoint)));
    const retag = (id: string) =>
      ssm.send(new AddTagsToResourceCommand({ ResourceType: "ManagedInstance", ResourceId: id, Tags: ours("stg", "host:evil").slice(0, 2) }));
    await expect(retag(prodInstance)).rejects.toMatchObject(denied("ssm:AddTagsToResource"));
    await expect(retag(onPremInstance)).rejects.toMatchObject(denied("ssm:AddTagsToResource"));
    expect(await tagsOf(prodInstance)).toMatchObject({ "bastionless:env": "prod" });
    expect(await tagsOf(onPremInstance)).toEqual({});
  });

  it("cannot deregister the prod instance, which the prod entrypoint still can", async () => {
    const stg = client(new SSMClient(as(stgEntrypoint)));
    await expect(stg.send(new DeregisterManagedInstanceCommand({ InstanceId: prodInstance }))).rejects.toMatchObject(denied("ssm:DeregisterManagedInstance"));
    const prod = client(new SSMClient(as(prodEntrypoint)));
    await prod.send(new DeregisterManagedInstanceCommand({ InstanceId: prodInstance }));
  });

  it("cannot retag prod's instance parameter; its own flow runs: a tagged activation, a new parameter it wrote, overwritten and re-tagged", async () => {
    const ssm = client(new SSMClient(as(stgEntrypoint)));
    await expect(
      ssm.send(
        new AddTagsToResourceCommand({
          ResourceType: "Parameter",
          ResourceId: "/prod/portforward/instances/fedcba9876543210fedcba9876543210",
          Tags: ours("stg", "x").slice(0, 2),
        }),
      ),
    ).rejects.toMatchObject(denied("ssm:AddTagsToResource"));
    await ssm.send(new CreateActivationCommand({ IamRole: "bastionless-stg-ssm-instance", Tags: ours("stg", "host:box") }));
    const name = `/stg/portforward/instances/${STG_TASK}`;
    const mine = [
      ...ours("stg", `arn:aws:ecs:${REGION}:${ACCOUNT}:task/stg-main/${STG_TASK}`),
      { Key: "bastionless:writer-id", Value: await userIdOf(stgEntrypoint) },
    ];
    await expect(
      ssm.send(new PutParameterCommand({ Name: name, Value: "mi-0123456789abcdef0", Type: "String", Tags: ours("stg", "host:box") })),
    ).rejects.toMatchObject(denied("ssm:PutParameter"));
    await ssm.send(new PutParameterCommand({ Name: name, Value: "mi-0123456789abcdef0", Type: "String", Tags: mine }));
    await ssm.send(new PutParameterCommand({ Name: name, Value: "mi-0123456789abcdef1", Type: "String", Overwrite: true }));
    await ssm.send(new AddTagsToResourceCommand({ ResourceType: "Parameter", ResourceId: name, Tags: mine }));
  });

  it("another task of the same env (the same role, its own session) cannot overwrite, retag or delete that parameter; its writer can", async () => {
    const name = `/stg/portforward/instances/${STG_TASK}`;
    const other = await session("stg-entrypoint-task", "9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a");
    const ssm = client(new SSMClient(as(other)));
    const theirs = [...ours("stg", "x"), { Key: "bastionless:writer-id", Value: await userIdOf(other) }];
    await expect(ssm.send(new PutParameterCommand({ Name: name, Value: "mi-00000000000000bad", Type: "String", Overwrite: true }))).rejects.toMatchObject(
      denied("ssm:PutParameter"),
    );
    await expect(ssm.send(new AddTagsToResourceCommand({ ResourceType: "Parameter", ResourceId: name, Tags: theirs }))).rejects.toMatchObject(
      denied("ssm:AddTagsToResource"),
    );
    await expect(ssm.send(new DeleteParameterCommand({ Name: name }))).rejects.toMatchObject(denied("ssm:DeleteParameter"));
    expect((await root.ssm.send(new GetParameterCommand({ Name: name }))).Parameter!.Value).toBe("mi-0123456789abcdef1");
    await client(new SSMClient(as(stgEntrypoint))).send(new DeleteParameterCommand({ Name: name }));
  });
});

describe("the SSM instance role (the hybrid agent's credentials in the container)", () => {
  it("cannot read /prod/db/password, alone or in bulk", async () => {
    const ssm = client(new SSMClient(as(instanceRole)));
    await expect(ssm.send(new GetParameterCommand({ Name: "/prod/db/password", WithDecryption: true }))).rejects.toMatchObject(denied("ssm:GetParameter"));
    await expect(ssm.send(new GetParametersCommand({ Names: ["/prod/db/password"], WithDecryption: true }))).rejects.toMatchObject(denied("ssm:GetParameters"));
  });
});

describe("session keys", () => {
  const context = (target: string) => ({ "aws:ssm:SessionId": SESSION, "aws:ssm:TargetId": target });

  it("the operator gets a data key for a stg task's session, not for prod's, nor without a session", async () => {
    const kms = client(new KMSClient(as(operator)));
    const generate = (ctx?: Record<string, string>) =>
      kms.send(new GenerateDataKeyCommand({ KeyId: key, NumberOfBytes: 64, ...(ctx ? { EncryptionContext: ctx } : {}) }));
    expect((await generate(context(`ecs:stg-main_${STG_TASK}_${STG_TASK}-1`))).KeyId).toBe(key);
    await expect(generate(context(`ecs:prod-main_${STG_TASK}_${STG_TASK}-1`))).rejects.toMatchObject(denied("kms:GenerateDataKey"));
    await expect(generate({ "aws:ssm:TargetId": `ecs:stg-main_${STG_TASK}_${STG_TASK}-1` })).rejects.toMatchObject(denied("kms:GenerateDataKey"));
  });

  it("a stg task role decrypts a stg session's data key, not a prod session's", async () => {
    const kms = client(new KMSClient(as(execRole)));
    const blob = async (target: string) =>
      (await root.kms.send(new GenerateDataKeyCommand({ KeyId: key, NumberOfBytes: 64, EncryptionContext: context(target) }))).CiphertextBlob!;
    const stg = context(`ecs:stg-main_${STG_TASK}_${STG_TASK}-1`);
    const prod = context(`ecs:prod-main_${STG_TASK}_${STG_TASK}-1`);
    expect((await kms.send(new DecryptCommand({ CiphertextBlob: await blob(stg["aws:ssm:TargetId"]), EncryptionContext: stg }))).KeyId).toBe(key);
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: await blob(prod["aws:ssm:TargetId"]), EncryptionContext: prod }))).rejects.toMatchObject(
      denied("kms:Decrypt"),
    );
  });
});

describe("the operator's pre-flight reads", () => {
  it("lists the env's exec log bucket only, not prod's backups (403)", async () => {
    const s3 = new S3Client(cloudConfig(cloud, { forcePathStyle: true }));
    await s3.send(new CreateBucketCommand({ Bucket: "bastionless-stg-exec", CreateBucketConfiguration: { LocationConstraint: REGION } }));
    await s3.send(new CreateBucketCommand({ Bucket: "prod-db-backups", CreateBucketConfiguration: { LocationConstraint: REGION } }));
    s3.destroy();
    const asOperator = client(new S3Client(as(operator, { forcePathStyle: true })));
    await asOperator.send(new HeadBucketCommand({ Bucket: "bastionless-stg-exec" }));
    await expect(asOperator.send(new HeadBucketCommand({ Bucket: "prod-db-backups" }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
  });

  it("simulates the env's task roles and itself, not prod's admin role", async () => {
    const iam = client(new IAMClient(as(operator)));
    const simulate = (arn: string) => iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: arn, ActionNames: ["ssmmessages:OpenDataChannel"] }));
    expect((await simulate(`arn:aws:iam::${ACCOUNT}:role/stg-app-task`)).EvaluationResults![0].EvalDecision).toBe("allowed");
    expect((await simulate(`arn:aws:iam::${ACCOUNT}:user/alice`)).EvaluationResults![0].EvalDecision).toBe("implicitDeny");
    await expect(simulate(`arn:aws:iam::${ACCOUNT}:role/prod-admin`)).rejects.toMatchObject({
      name: "AccessDenied",
      message: expect.stringContaining("is not authorized to perform: iam:SimulatePrincipalPolicy"),
    });
  });
});

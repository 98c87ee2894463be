// What IAM authorizes for each API call the local cloud serves to a principal other than root:
// the action, the resource ARN and the condition keys, per the Service Authorization Reference (the
// "Actions" tables for resource types and condition keys, the "API operations" tables for what one
// call authorizes with it: RunTask → iam:PassRole and ecs:TagResource, CreateActivation →
// iam:PassRole and ssm:AddTagsToResource, PutParameter with tags → ssm:AddTagsToResource).
// A hand-written table of the operations the product's programs and the local cloud's own tools
// call; an operation missing here is refused (see test/localcloud/README.md, "IAM").
import type { CloudContext } from "../context.ts";
import type { Request } from "../../../docker/iam/evaluate.ts";
import { ACCOUNT } from "./principals.ts";

export interface Authorization extends Request {
  /** The resource as the service names it in its AccessDenied message (IAM: "role NAME"), when not the ARN. */
  shownAs?: string;
}

export interface ServedCall {
  service: string;
  operation: string;
  region: string;
  body: any;
  /** S3 (REST): the HTTP method and path. */
  method?: string;
  path?: string;
}

type Tags = Record<string, string>;
type Rule = (ctx: CloudContext, call: ServedCall) => Promise<Authorization[]> | Authorization[];

const tagContext = (prefix: string, tags: Tags): Record<string, string> => Object.fromEntries(Object.entries(tags).map(([k, v]) => [`${prefix}/${k}`, v]));

/** aws:RequestTag/… and aws:TagKeys of a request that carries tags; nothing when it carries none. */
function requestTags(tags: Tags | undefined): Record<string, string | string[]> {
  if (!tags || !Object.keys(tags).length) return {};
  return { ...tagContext("aws:RequestTag", tags), "aws:TagKeys": Object.keys(tags) };
}

const fromKeyValue = (list: { Key?: string; Value?: string }[] | undefined): Tags =>
  Object.fromEntries((list ?? []).filter((t) => t.Key).map((t) => [t.Key!, t.Value ?? ""]));
const fromEcsTags = (list: { key?: string; value?: string }[] | undefined): Tags =>
  Object.fromEntries((list ?? []).filter((t) => t.key).map((t) => [t.key!, t.value ?? ""]));

// ---- SSM ----

const ssmArn = (call: ServedCall, resource: string) => `arn:aws:ssm:${call.region}:${ACCOUNT}:${resource}`;
/** A parameter's ARN: `parameter/a/b` for `/a/b` and for `a/b`. */
const parameterArn = (call: ServedCall, name: string) => ssmArn(call, `parameter/${String(name).replace(/^\//, "")}`);
const instanceArn = (call: ServedCall, id: string) => ssmArn(call, `managed-instance/${id}`);

function instanceTags(ctx: CloudContext, id: string): Tags {
  return fromKeyValue(ctx.state.instances.get(id)?.tags);
}

async function parameterTags(ctx: CloudContext, call: ServedCall, name: string): Promise<Tags> {
  try {
    const out = await ctx.moto.json("ssm", "AmazonSSM.ListTagsForResource", { ResourceType: "Parameter", ResourceId: name }, call.region);
    return fromKeyValue(out.TagList);
  } catch {
    return {}; // no such parameter (yet): no resource tags
  }
}

/** ssm:resourceTag/… and aws:ResourceTag/… of an existing SSM resource. */
const resourceTags = (tags: Tags) => ({ ...tagContext("ssm:resourceTag", tags), ...tagContext("aws:ResourceTag", tags) });

async function ssmResource(ctx: CloudContext, call: ServedCall, type: string, id: string): Promise<{ resource: string; tags: Tags }> {
  if (type === "ManagedInstance") return { resource: instanceArn(call, id), tags: instanceTags(ctx, id) };
  if (type === "Parameter") return { resource: parameterArn(call, id), tags: await parameterTags(ctx, call, id) };
  return { resource: ssmArn(call, `${type.toLowerCase()}/${id}`), tags: {} };
}

const star =
  (action: string): Rule =>
  () => [{ action, resource: "*" }];
const onParameter =
  (action: string): Rule =>
  async (ctx, call) => [{ action, resource: parameterArn(call, call.body.Name), context: resourceTags(await parameterTags(ctx, call, call.body.Name)) }];

/** The resources of ssm:StartSession: the target, and the session document. */
function sessionTarget(call: ServedCall, target: string): string {
  const ecs = /^ecs:([^_]+)_([0-9a-f-]{32,36})_(.+)$/.exec(target);
  if (ecs) return `arn:aws:ecs:${call.region}:${ACCOUNT}:task/${ecs[1]}/${ecs[2]}`;
  if (target.startsWith("mi-")) return instanceArn(call, target);
  return `arn:aws:ec2:${call.region}:${ACCOUNT}:instance/${target}`;
}
/** AWS-owned documents have no account in their ARN. */
const documentArn = (call: ServedCall, name: string) =>
  name.startsWith("AWS-") ? `arn:aws:ssm:${call.region}::document/${name}` : ssmArn(call, `document/${name}`);

// ---- ECS ----

const ecsArn = (call: ServedCall, resource: string) => `arn:aws:ecs:${call.region}:${ACCOUNT}:${resource}`;
function clusterArn(call: ServedCall, cluster: string | undefined): string {
  const c = cluster ?? "default";
  return c.startsWith("arn:") ? c : ecsArn(call, `cluster/${c}`);
}
const clusterName = (arn: string) => arn.split("/").pop()!;
function taskArn(call: ServedCall, cluster: string, task: string): string {
  return task.startsWith("arn:") ? task : ecsArn(call, `task/${clusterName(cluster)}/${task}`);
}
async function ecsTags(ctx: CloudContext, call: ServedCall, arn: string): Promise<Tags> {
  try {
    return fromEcsTags((await ctx.moto.json("ecs", "AmazonEC2ContainerServiceV20141113.ListTagsForResource", { resourceArn: arn }, call.region)).tags);
  } catch {
    return {};
  }
}
const awsResourceTags = (tags: Tags) => tagContext("aws:ResourceTag", tags);

async function runTask(ctx: CloudContext, call: ServedCall): Promise<Authorization[]> {
  const b = call.body;
  const cluster = clusterArn(call, b.cluster);
  let td: any = {};
  try {
    td =
      (await ctx.moto.json("ecs", "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition", { taskDefinition: b.taskDefinition }, call.region))
        .taskDefinition ?? {};
  } catch {
    /* no such task definition: ECS authorizes the name as given, then fails */
  }
  const tdArn: string =
    td.taskDefinitionArn ?? (String(b.taskDefinition).startsWith("arn:") ? b.taskDefinition : ecsArn(call, `task-definition/${b.taskDefinition}`));
  const tags = fromEcsTags(b.tags);
  const out: Authorization[] = [
    {
      action: "ecs:RunTask",
      resource: tdArn,
      context: {
        "ecs:cluster": cluster,
        "ecs:task-definition": tdArn,
        "ecs:enable-execute-command": String(Boolean(b.enableExecuteCommand)),
        ...(b.enableECSManagedTags !== undefined ? { "ecs:enable-managed-tags": String(Boolean(b.enableECSManagedTags)) } : {}),
        ...requestTags(tags),
      },
    },
  ];
  for (const role of [b.overrides?.taskRoleArn ?? td.taskRoleArn, b.overrides?.executionRoleArn ?? td.executionRoleArn]) {
    if (role) out.push({ action: "iam:PassRole", resource: role, context: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } });
  }
  if (Object.keys(tags).length) {
    // The task has no id yet: the tag-on-create check is on the cluster's task ARNs.
    out.push({
      action: "ecs:TagResource",
      resource: ecsArn(call, `task/${clusterName(cluster)}/*`),
      context: { "ecs:CreateAction": "RunTask", ...requestTags(tags) },
    });
  }
  return out;
}

// ---- the table ----

const RULES: Record<string, Record<string, Rule>> = {
  ssm: {
    CreateActivation: (_ctx, call) => {
      const tags = fromKeyValue(call.body.Tags);
      const out: Authorization[] = [
        { action: "ssm:CreateActivation", resource: "*", context: requestTags(tags) },
        { action: "iam:PassRole", resource: `arn:aws:iam::${ACCOUNT}:role/${call.body.IamRole}`, context: { "iam:PassedToService": "ssm.amazonaws.com" } },
      ];
      if (Object.keys(tags).length) out.push({ action: "ssm:AddTagsToResource", resource: "*", context: requestTags(tags) });
      return out;
    },
    DeleteActivation: star("ssm:DeleteActivation"),
    DescribeActivations: star("ssm:DescribeActivations"),
    DescribeInstanceInformation: star("ssm:DescribeInstanceInformation"),
    DescribeParameters: star("ssm:DescribeParameters"),
    DescribeSessions: star("ssm:DescribeSessions"),
    DeregisterManagedInstance: (ctx, call) => [
      {
        action: "ssm:DeregisterManagedInstance",
        resource: instanceArn(call, call.body.InstanceId),
        context: resourceTags(instanceTags(ctx, call.body.InstanceId)),
      },
    ],
    AddTagsToResource: async (ctx, call) => {
      const { resource, tags } = await ssmResource(ctx, call, call.body.ResourceType, call.body.ResourceId);
      return [{ action: "ssm:AddTagsToResource", resource, context: { ...resourceTags(tags), ...requestTags(fromKeyValue(call.body.Tags)) } }];
    },
    RemoveTagsFromResource: async (ctx, call) => {
      const { resource, tags } = await ssmResource(ctx, call, call.body.ResourceType, call.body.ResourceId);
      return [
        {
          action: "ssm:RemoveTagsFromResource",
          resource,
          context: { ...resourceTags(tags), ...(call.body.TagKeys?.length ? { "aws:TagKeys": call.body.TagKeys } : {}) },
        },
      ];
    },
    ListTagsForResource: async (ctx, call) => {
      const { resource, tags } = await ssmResource(ctx, call, call.body.ResourceType, call.body.ResourceId);
      return [{ action: "ssm:ListTagsForResource", resource, context: resourceTags(tags) }];
    },
    PutParameter: async (ctx, call) => {
      const resource = parameterArn(call, call.body.Name);
      const tags = fromKeyValue(call.body.Tags);
      const existing = resourceTags(await parameterTags(ctx, call, call.body.Name));
      const overwrite: Record<string, string> = call.body.Overwrite !== undefined ? { "ssm:Overwrite": String(Boolean(call.body.Overwrite)) } : {};
      const out: Authorization[] = [{ action: "ssm:PutParameter", resource, context: { ...existing, ...overwrite, ...requestTags(tags) } }];
      if (Object.keys(tags).length) out.push({ action: "ssm:AddTagsToResource", resource, context: { ...existing, ...requestTags(tags) } });
      return out;
    },
    GetParameter: onParameter("ssm:GetParameter"),
    DeleteParameter: onParameter("ssm:DeleteParameter"),
    GetParameters: async (ctx, call) =>
      Promise.all(
        (call.body.Names ?? []).map(async (name: string) => ({
          action: "ssm:GetParameters",
          resource: parameterArn(call, name),
          context: resourceTags(await parameterTags(ctx, call, name)),
        })),
      ),
    GetParametersByPath: (_ctx, call) => [{ action: "ssm:GetParametersByPath", resource: parameterArn(call, call.body.Path) }],
    StartSession: (ctx, call) => {
      const target = String(call.body.Target ?? "");
      const tags = target.startsWith("mi-") ? resourceTags(instanceTags(ctx, target)) : {};
      return [
        { action: "ssm:StartSession", resource: sessionTarget(call, target), context: tags },
        { action: "ssm:StartSession", resource: documentArn(call, call.body.DocumentName ?? "SSM-SessionManagerRunShell") },
      ];
    },
    ResumeSession: (ctx, call) => sessionAction(ctx, call, "ssm:ResumeSession"),
    TerminateSession: (ctx, call) => sessionAction(ctx, call, "ssm:TerminateSession"),
  },
  ecs: {
    ListClusters: star("ecs:ListClusters"),
    DescribeTaskDefinition: star("ecs:DescribeTaskDefinition"),
    DescribeClusters: (_ctx, call) =>
      (call.body.clusters?.length ? call.body.clusters : ["default"]).map((c: string) => ({ action: "ecs:DescribeClusters", resource: clusterArn(call, c) })),
    ListServices: (_ctx, call) => [{ action: "ecs:ListServices", resource: "*", context: { "ecs:cluster": clusterArn(call, call.body.cluster) } }],
    DescribeServices: (_ctx, call) => {
      const cluster = clusterArn(call, call.body.cluster);
      return (call.body.services ?? []).map((s: string) => ({
        action: "ecs:DescribeServices",
        resource: s.startsWith("arn:") ? s : ecsArn(call, `service/${clusterName(cluster)}/${s}`),
        context: { "ecs:cluster": cluster },
      }));
    },
    ListTasks: (_ctx, call) => [{ action: "ecs:ListTasks", resource: "*", context: { "ecs:cluster": clusterArn(call, call.body.cluster) } }],
    DescribeTasks: (_ctx, call) => {
      const cluster = clusterArn(call, call.body.cluster);
      return (call.body.tasks ?? []).map((t: string) => ({
        action: "ecs:DescribeTasks",
        resource: taskArn(call, cluster, t),
        context: { "ecs:cluster": cluster },
      }));
    },
    StopTask: async (ctx, call) => {
      const cluster = clusterArn(call, call.body.cluster);
      const task = taskArn(call, cluster, call.body.task);
      return [{ action: "ecs:StopTask", resource: task, context: { "ecs:cluster": cluster, ...awsResourceTags(await ecsTags(ctx, call, task)) } }];
    },
    RunTask: runTask,
    ExecuteCommand: async (ctx, call) => {
      const cluster = clusterArn(call, call.body.cluster);
      const task = taskArn(call, cluster, call.body.task);
      const context = {
        "ecs:cluster": cluster,
        ...(call.body.container ? { "ecs:container-name": call.body.container } : {}),
        ...awsResourceTags(await ecsTags(ctx, call, task)),
      };
      return [
        { action: "ecs:ExecuteCommand", resource: cluster, context },
        { action: "ecs:ExecuteCommand", resource: task, context },
      ];
    },
  },
  iam: {
    GetRole: (_ctx, call) => [{ action: "iam:GetRole", resource: `arn:aws:iam::${ACCOUNT}:role/${call.body.RoleName}`, shownAs: `role ${call.body.RoleName}` }],
    SimulatePrincipalPolicy: (_ctx, call) => [{ action: "iam:SimulatePrincipalPolicy", resource: String(call.body.PolicySourceArn ?? "*") }],
  },
  sts: {
    // GetCallerIdentity needs no permission (STS: "no permissions are required").
    GetCallerIdentity: () => [],
    AssumeRole: (_ctx, call) => [{ action: "sts:AssumeRole", resource: String(call.body.RoleArn) }],
  },
  kms: {
    DescribeKey: async (ctx, call) => [{ action: "kms:DescribeKey", resource: await kmsKeyArn(ctx, call, call.body.KeyId) }],
    GenerateDataKey: async (ctx, call) => [
      { action: "kms:GenerateDataKey", resource: await kmsKeyArn(ctx, call, call.body.KeyId), context: encryptionContext(call.body.EncryptionContext) },
    ],
    Decrypt: async (ctx, call) => [
      {
        action: "kms:Decrypt",
        resource: await kmsKeyArn(ctx, call, call.body.KeyId ?? keyIdOfCiphertext(call.body.CiphertextBlob)),
        context: encryptionContext(call.body.EncryptionContext),
      },
    ],
  },
  logs: {
    DescribeLogGroups: (_ctx, call) => [{ action: "logs:DescribeLogGroups", resource: `arn:aws:logs:${call.region}:${ACCOUNT}:log-group::log-stream:` }],
  },
  ec2: {
    // amazon-ecs-exec-checker's VPC endpoint check; both actions authorize on "*" only.
    DescribeSubnets: star("ec2:DescribeSubnets"),
    DescribeVpcEndpoints: star("ec2:DescribeVpcEndpoints"),
  },
  rds: {
    DescribeDBClusters: (_ctx, call) => [
      { action: "rds:DescribeDBClusters", resource: `arn:aws:rds:${call.region}:${ACCOUNT}:cluster:${call.body.DBClusterIdentifier ?? "*"}` },
    ],
    DescribeDBInstances: (_ctx, call) => [
      { action: "rds:DescribeDBInstances", resource: `arn:aws:rds:${call.region}:${ACCOUNT}:db:${call.body.DBInstanceIdentifier ?? "*"}` },
    ],
  },
  s3: {
    // HeadBucket (HEAD /bucket, path style) is authorized as s3:ListBucket on the bucket.
    HeadBucket: (_ctx, call) => [{ action: "s3:ListBucket", resource: `arn:aws:s3:::${String(call.path).split("/")[1]}` }],
  },
};

function sessionAction(ctx: CloudContext, call: ServedCall, action: string): Authorization[] {
  const id = String(call.body.SessionId ?? "");
  const owner = ctx.principals.sessionOwner(id);
  // AWS tags each session with its starter's aws:userid (the key AWS's samples condition on).
  return [{ action, resource: ssmArn(call, `session/${id}`), context: owner ? { "ssm:resourceTag/aws:ssmmessages:session-id": owner } : {} }];
}

function encryptionContext(ec: Record<string, string> | undefined): Record<string, string | string[]> {
  if (!ec || !Object.keys(ec).length) return {};
  return { ...Object.fromEntries(Object.entries(ec).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])), "kms:EncryptionContextKeys": Object.keys(ec) };
}

/** moto's ciphertext starts with the key id (a UUID). */
function keyIdOfCiphertext(blob: string | undefined): string | undefined {
  if (!blob) return undefined;
  const head = Buffer.from(blob, "base64").subarray(0, 36).toString("latin1");
  return /^[0-9a-f-]{36}$/.test(head) ? head : undefined;
}

async function kmsKeyArn(ctx: CloudContext, call: ServedCall, keyId: string | undefined): Promise<string> {
  if (!keyId) return `arn:aws:kms:${call.region}:${ACCOUNT}:key/*`;
  try {
    return (await ctx.moto.json("kms", "TrentService.DescribeKey", { KeyId: keyId }, call.region)).KeyMetadata.Arn;
  } catch {
    return keyId.startsWith("arn:") ? keyId : `arn:aws:kms:${call.region}:${ACCOUNT}:key/${keyId}`;
  }
}

/** The operation of an S3 REST request the programs make, if it is one. */
export function s3Operation(method: string, path: string): string | undefined {
  return method === "HEAD" && /^\/[^/]+\/?$/.test(path.split("?")[0]) ? "HeadBucket" : undefined;
}

/** What IAM authorizes for this call, or undefined when the local cloud has no rule for it. */
export async function authorizationsOf(ctx: CloudContext, call: ServedCall): Promise<Authorization[] | undefined> {
  const rule = RULES[call.service]?.[call.operation];
  return rule ? await rule(ctx, call) : undefined;
}

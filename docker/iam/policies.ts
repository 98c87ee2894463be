// The policy templates of docker/iam/*.json and their rendering: `${Partition}`, `${Region}`,
// `${Account}`, `${Env}`, `${SessionKey}` (the Session Manager KMS key id, `*` = any key of the
// account and region) and `${ExecLogBucket}` (the session log bucket, `bastionless-<env>-exec` by
// default) are filled in; IAM's own policy variables (`${aws:userid}`, `${aws:username}`) stay.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const IAM_DIR = dirname(fileURLToPath(import.meta.url));

/** Principals whose policy is a permissions policy, by file name (without .json). */
export const POLICY_FILES = ["entrypoint-task-role", "ecs-exec-task-role", "operator", "ssm-instance-role", "sweeper"] as const;
/** The SSM service role's trust policy (its permissions are ssm-instance-role.json). */
export const TRUST_FILE = "ssm-instance-role-trust";
/**
 * AWS managed policies to attach, by role: none. AmazonSSMManagedInstanceCore allowed the hybrid
 * agent ssm:GetParameter(s) on "*"; ssm-instance-role.json holds only what Session Manager needs.
 */
export const MANAGED_ATTACHMENTS: Record<string, string[]> = {};

export interface Statement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: unknown;
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: Statement[];
}

export interface RenderInput {
  env: string;
  account: string;
  region: string;
  /** The key id of the cluster's / Session Manager's KMS key; absent: any key of the account and region. */
  kmsKey?: string;
  /** The session log bucket; absent: `bastionless-<env>-exec`. */
  execLogBucket?: string;
}

/** Checks the three inputs; returns one line per problem (empty when all is well). */
export function checkRenderInput(input: Partial<RenderInput>): string[] {
  const problems: string[] = [];
  if (!input.env) problems.push("ENV is missing (e.g. ENV=stg)");
  else if (!/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$/.test(input.env))
    problems.push(`ENV=${input.env} must be 1–63 letters, digits, _ or -, starting with a letter or digit`);
  if (!input.account) problems.push("ACCOUNT is missing (the 12-digit AWS account id)");
  else if (!/^\d{12}$/.test(input.account)) problems.push(`ACCOUNT=${input.account} must be exactly 12 digits`);
  if (!input.region) problems.push("REGION is missing (e.g. REGION=ap-northeast-1)");
  else if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(input.region)) problems.push(`REGION=${input.region} is not a region name such as ap-northeast-1`);
  if (input.kmsKey !== undefined && !/^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.test(input.kmsKey))
    problems.push(`KMS_KEY=${input.kmsKey} must be a key id such as 1234abcd-12ab-34cd-56ef-1234567890ab (not an ARN or alias)`);
  if (input.execLogBucket !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(input.execLogBucket))
    problems.push(`EXEC_LOG_BUCKET=${input.execLogBucket} is not an S3 bucket name (3–63 lower-case letters, digits, . or -)`);
  return problems;
}

/** aws, aws-cn or aws-us-gov, from the region name. */
export function partitionOf(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

const PLACEHOLDER = /\$\{(Partition|Region|Account|Env|SessionKey|ExecLogBucket)\}/g;
/** Any `${…}` that is not one of IAM's policy variables (aws:…, ssm:…, etc. have a colon). */
export const LEFTOVER_PLACEHOLDER = /\$\{(?![a-z0-9-]+:)[^}]*\}/;

export function fill(text: string, input: RenderInput): string {
  const values: Record<string, string> = {
    Partition: partitionOf(input.region),
    Region: input.region,
    Account: input.account,
    Env: input.env,
    SessionKey: input.kmsKey ?? "*",
    ExecLogBucket: input.execLogBucket ?? `bastionless-${input.env}-exec`,
  };
  return text.replace(PLACEHOLDER, (_, key: string) => values[key]);
}

export function readTemplate(name: string, dir: string = IAM_DIR): string {
  return readFileSync(join(dir, `${name}.json`), "utf8");
}

/** Every *.json template in the folder, parsed (placeholders unfilled). */
export function loadTemplates(dir: string = IAM_DIR): Record<string, PolicyDocument> {
  const out: Record<string, PolicyDocument> = {};
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    out[file.replace(/\.json$/, "")] = JSON.parse(readFileSync(join(dir, file), "utf8")) as PolicyDocument;
  }
  return out;
}

export interface Rendered {
  policies: Record<string, PolicyDocument>;
  managedPolicyAttachments: Record<string, string[]>;
}

/** Every policy filled in for one env/account/region; throws when a placeholder survives. */
export function renderPolicies(input: RenderInput, dir: string = IAM_DIR): Rendered {
  const policies: Record<string, PolicyDocument> = {};
  for (const name of [...POLICY_FILES, TRUST_FILE]) {
    const text = fill(readTemplate(name, dir), input);
    const left = text.match(LEFTOVER_PLACEHOLDER);
    if (left)
      throw new Error(
        `${name}.json still holds ${left[0]} after rendering: only \${Partition}, \${Region}, \${Account}, \${Env}, \${SessionKey} and \${ExecLogBucket} are filled in.`,
      );
    policies[name] = JSON.parse(text) as PolicyDocument;
  }
  const managedPolicyAttachments = Object.fromEntries(Object.entries(MANAGED_ATTACHMENTS).map(([role, arns]) => [role, arns.map((arn) => fill(arn, input))]));
  return { policies, managedPolicyAttachments };
}

export function asList<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

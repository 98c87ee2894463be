// Who a SigV4 access key belongs to, and the identity policies IAM would evaluate for them, read
// from moto's IAM through its own API (moto keeps the users, roles, groups, policies and keys; it
// evaluates none of them). `localcloud` is the account's root: the open default of tests that do
// not care about IAM. Every other key must be one moto issued — an IAM user's key
// (CreateAccessKey) or an sts:AssumeRole session the gateway relayed or issued itself (a task
// role's credentials) — else it is unrecognized, as AWS says.
import {
  GetGroupPolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedGroupPoliciesCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupPoliciesCommand,
  ListGroupsForUserCommand,
  ListRolePoliciesCommand,
  ListUserPoliciesCommand,
  ListUsersCommand,
} from "@aws-sdk/client-iam";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import type { SourcedPolicy } from "../../../docker/iam/evaluate.ts";
import { asList, type PolicyDocument } from "../../../docker/iam/policies.ts";

/** moto's default account. */
export const ACCOUNT = "123456789012";
/** The access key of the account's root: today's open default, never evaluated. */
export const ROOT_ACCESS_KEY = "localcloud";

export interface Caller {
  /** root: not evaluated (the account's root user). */
  kind: "root" | "user" | "assumed-role";
  /** The caller as AWS names it in an AccessDenied message: the user or the assumed-role session ARN. */
  arn: string;
  /** The user or role whose policies are evaluated. */
  policySourceArn: string;
  /** aws:userid: the user's id (AIDA…), or the role's id and the session name (AROA…:session). */
  userId: string;
  /** aws:username (users only). */
  userName?: string;
  account: string;
}

interface Session {
  caller: Caller;
  sessionToken: string;
  expiresMs: number;
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  roleArn: string;
}

/** A call IAM refused: who, what, and AWS's message. */
export interface Denial {
  caller: string;
  action: string;
  resource: string;
  message: string;
}

export class UnknownAccessKey extends Error {}
/** A session key sent without its session token, or with another session's. */
export class InvalidSessionToken extends Error {}
export class ExpiredSession extends Error {}
export class NoSuchPrincipal extends Error {}

const ROOT: Caller = { kind: "root", arn: `arn:aws:iam::${ACCOUNT}:root`, policySourceArn: `arn:aws:iam::${ACCOUNT}:root`, userId: ACCOUNT, account: ACCOUNT };

function parseDocument(text: string | undefined): { document: PolicyDocument; text: string } {
  // moto (like IAM) returns documents URL-encoded.
  const decoded = decodeURIComponent(text ?? "{}");
  const parsed = JSON.parse(decoded) as { Version?: string; Statement?: unknown };
  return { document: { Version: "2012-10-17", Statement: asList(parsed.Statement as PolicyDocument["Statement"]) }, text: decoded };
}

export class Principals {
  private readonly iam: IAMClient;
  private readonly sts: STSClient;
  private readonly sessions = new Map<string, Session>();
  private readonly userKeys = new Map<string, Caller>();
  private readonly policyCache = new Map<string, Promise<SourcedPolicy[]>>();
  /** Role ARN → its RoleId (AROA…), or undefined when IAM has no such role. */
  private readonly roleIds = new Map<string, Promise<string | undefined>>();
  /** The credentials endpoint's ids → the task and its role (and the session last issued for it). */
  private readonly taskRoles = new Map<string, { taskId: string; roleArn: string; issued?: Promise<Credentials> }>();
  /** Every call refused since the start (or the last reset), oldest first. */
  readonly denials: Denial[] = [];
  /** Session Manager sessions by id → the aws:userid of the caller who started them. */
  private readonly sessionOwners = new Map<string, string>();

  constructor(
    motoUrl: string,
    region: string,
    private readonly now: () => number = Date.now,
  ) {
    const config = { endpoint: motoUrl, region, credentials: { accessKeyId: ROOT_ACCESS_KEY, secretAccessKey: ROOT_ACCESS_KEY }, maxAttempts: 1 };
    this.iam = new IAMClient(config);
    this.sts = new STSClient(config);
  }

  close(): void {
    this.iam.destroy();
    this.sts.destroy();
  }

  /** Back to no keys but root's (the cloud's reset). */
  clear(): void {
    this.sessions.clear();
    this.userKeys.clear();
    this.sessionOwners.clear();
    this.denials.length = 0;
    this.taskRoles.clear();
    this.policyCache.clear();
    this.roleIds.clear();
  }

  /** Some IAM state changed (a policy put or attached, a user added to a group, a key deleted): read it afresh. */
  iamChanged(): void {
    this.policyCache.clear();
    this.userKeys.clear();
    this.roleIds.clear();
  }

  /** Records an sts:AssumeRole session moto issued (relayed through the gateway). */
  recordSession(accessKeyId: string, sessionToken: string, assumedRoleArn: string, assumedRoleId: string, expiration: Date): void {
    const m = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/(.+)\/([^/]+)$/.exec(assumedRoleArn);
    if (!m) return;
    const roleName = m[3].split("/").pop()!;
    const caller: Caller = {
      kind: "assumed-role",
      arn: assumedRoleArn,
      policySourceArn: `arn:${m[1]}:iam::${m[2]}:role/${roleName}`,
      userId: assumedRoleId,
      account: m[2],
    };
    this.sessions.set(accessKeyId, { caller, sessionToken, expiresMs: expiration.getTime() });
  }

  /** AWS tags a Session Manager session with its starter's aws:userid (ssm:resourceTag/aws:ssmmessages:session-id). */
  recordSessionOwner(sessionId: string, userId: string): void {
    this.sessionOwners.set(sessionId, userId);
  }

  sessionOwner(sessionId: string): string | undefined {
    return this.sessionOwners.get(sessionId);
  }

  /** The caller a request's access key (and session token) stands for; throws UnknownAccessKey, InvalidSessionToken or ExpiredSession. */
  async callerOf(accessKeyId: string, sessionToken: string | undefined): Promise<Caller> {
    if (accessKeyId === ROOT_ACCESS_KEY) return ROOT;
    const session = this.sessions.get(accessKeyId);
    if (session) {
      if (sessionToken !== session.sessionToken) throw new InvalidSessionToken(accessKeyId);
      if (this.now() >= session.expiresMs) throw new ExpiredSession(accessKeyId);
      return session.caller;
    }
    const known = this.userKeys.get(accessKeyId) ?? (await this.findUserKey(accessKeyId));
    if (!known) throw new UnknownAccessKey(accessKeyId);
    return known;
  }

  /** An IAM user's active key, looked up in moto (keys are few; a miss reads them all again). */
  private async findUserKey(accessKeyId: string): Promise<Caller | undefined> {
    let marker: string | undefined;
    do {
      const page = await this.iam.send(new ListUsersCommand({ Marker: marker }));
      for (const user of page.Users ?? []) {
        const keys = await this.iam.send(new ListAccessKeysCommand({ UserName: user.UserName }));
        for (const key of keys.AccessKeyMetadata ?? []) {
          if (key.Status !== "Active" || !key.AccessKeyId) continue;
          this.userKeys.set(key.AccessKeyId, {
            kind: "user",
            arn: user.Arn!,
            policySourceArn: user.Arn!,
            userId: user.UserId!,
            userName: user.UserName!,
            account: user.Arn!.split(":")[4],
          });
        }
      }
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    return this.userKeys.get(accessKeyId);
  }

  /** A role's temporary credentials, as ECS hands a task its task role's (session name = task id). */
  async assumeRole(roleArn: string, sessionName: string): Promise<Credentials> {
    const out = await this.sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: 6 * 3600 }));
    const c = out.Credentials!;
    this.recordSession(c.AccessKeyId!, c.SessionToken!, out.AssumedRoleUser!.Arn!, out.AssumedRoleUser!.AssumedRoleId!, c.Expiration!);
    return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken!, expiration: c.Expiration!, roleArn };
  }

  /**
   * The caller a service's agent is when it calls with a role's temporary credentials (an ECS task's
   * SSM agent: session = task id; a hybrid instance's agent: session = instance id), as AWS names
   * it; undefined when IAM has no such role (the agent then gets no credentials at all).
   */
  async findRoleSessionCaller(roleArn: string, sessionName: string): Promise<Caller | undefined> {
    const m = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(roleArn);
    if (!m) return undefined;
    let roleId = this.roleIds.get(roleArn);
    if (!roleId) {
      roleId = this.iam.send(new GetRoleCommand({ RoleName: m[3] })).then(
        (out) => out.Role?.RoleId,
        (error: Error) => {
          if (error.name === "NoSuchEntityException" || error.name === "NoSuchEntity") return undefined;
          throw error;
        },
      );
      this.roleIds.set(roleArn, roleId);
      roleId.catch(() => this.roleIds.delete(roleArn));
    }
    const id = await roleId;
    if (!id) return undefined;
    return {
      kind: "assumed-role",
      arn: `arn:${m[1]}:sts::${m[2]}:assumed-role/${m[3]}/${sessionName}`,
      policySourceArn: roleArn,
      userId: `${id}:${sessionName}`,
      account: m[2],
    };
  }

  registerTaskRole(credentialsId: string, taskId: string, roleArn: string): void {
    this.taskRoles.set(credentialsId, { taskId, roleArn });
  }

  /**
   * The task role's credentials for a credentials-endpoint id (undefined for an unknown id): one
   * session per task, renewed when less than 15 minutes remain, as ECS rotates them.
   */
  async taskRoleCredentials(credentialsId: string): Promise<Credentials | undefined> {
    const entry = this.taskRoles.get(credentialsId);
    if (!entry) return undefined;
    const current = entry.issued && (await entry.issued.catch(() => undefined));
    if (current && current.expiration.getTime() - this.now() > 15 * 60_000) return current;
    entry.issued = this.assumeRole(entry.roleArn, entry.taskId);
    return entry.issued;
  }

  /** The identity policies of a user (its own, attached, and its groups'), role or group; throws NoSuchPrincipal. */
  policiesOf(policySourceArn: string): Promise<SourcedPolicy[]> {
    let cached = this.policyCache.get(policySourceArn);
    if (!cached) {
      cached = this.readPolicies(policySourceArn);
      this.policyCache.set(policySourceArn, cached);
      cached.catch(() => this.policyCache.delete(policySourceArn));
    }
    return cached;
  }

  private async readPolicies(arn: string): Promise<SourcedPolicy[]> {
    const m = /^arn:aws[a-z-]*:iam::\d{12}:(user|role|group)\/(?:.*\/)?([^/]+)$/.exec(arn);
    if (!m) throw new NoSuchPrincipal(arn);
    const [, kind, name] = m;
    try {
      if (kind === "role") {
        await this.iam.send(new GetRoleCommand({ RoleName: name }));
        const inline = await this.iam.send(new ListRolePoliciesCommand({ RoleName: name }));
        const own = await Promise.all(
          (inline.PolicyNames ?? []).map(async (p) => {
            const doc = await this.iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: p }));
            return { id: p, type: "role" as const, ...parseDocument(doc.PolicyDocument) };
          }),
        );
        const attached = await this.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name }));
        return [...own, ...(await this.managed((attached.AttachedPolicies ?? []).map((p) => p.PolicyArn!)))];
      }
      if (kind === "group") return await this.groupPolicies(name);
      await this.iam.send(new GetUserCommand({ UserName: name }));
      const inline = await this.iam.send(new ListUserPoliciesCommand({ UserName: name }));
      const own = await Promise.all(
        (inline.PolicyNames ?? []).map(async (p) => {
          const doc = await this.iam.send(new GetUserPolicyCommand({ UserName: name, PolicyName: p }));
          return { id: p, type: "user" as const, ...parseDocument(doc.PolicyDocument) };
        }),
      );
      const attached = await this.iam.send(new ListAttachedUserPoliciesCommand({ UserName: name }));
      const groups = await this.iam.send(new ListGroupsForUserCommand({ UserName: name }));
      const ofGroups = await Promise.all((groups.Groups ?? []).map((g) => this.groupPolicies(g.GroupName!)));
      return [...own, ...(await this.managed((attached.AttachedPolicies ?? []).map((p) => p.PolicyArn!))), ...ofGroups.flat()];
    } catch (error) {
      if ((error as Error).name === "NoSuchEntityException" || (error as Error).name === "NoSuchEntity") throw new NoSuchPrincipal(arn);
      throw error;
    }
  }

  private async groupPolicies(group: string): Promise<SourcedPolicy[]> {
    const inline = await this.iam.send(new ListGroupPoliciesCommand({ GroupName: group }));
    const own = await Promise.all(
      (inline.PolicyNames ?? []).map(async (p) => {
        const doc = await this.iam.send(new GetGroupPolicyCommand({ GroupName: group, PolicyName: p }));
        return { id: p, type: "group" as const, ...parseDocument(doc.PolicyDocument) };
      }),
    );
    const attached = await this.iam.send(new ListAttachedGroupPoliciesCommand({ GroupName: group }));
    return [...own, ...(await this.managed((attached.AttachedPolicies ?? []).map((p) => p.PolicyArn!)))];
  }

  private managed(arns: string[]): Promise<SourcedPolicy[]> {
    return Promise.all(
      arns.map(async (arn) => {
        const policy = (await this.iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy!;
        const version = await this.iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: policy.DefaultVersionId }));
        const type = /^arn:aws[a-z-]*:iam::aws:policy\//.test(arn) ? ("aws-managed" as const) : ("user-managed" as const);
        return { id: policy.PolicyName!, type, ...parseDocument(version.PolicyVersion!.Document) };
      }),
    );
  }
}

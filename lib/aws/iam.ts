// IAM calls for exec's pre-flight checks: does the task role exist, and what would IAM decide for
// an action (iam:SimulatePrincipalPolicy, as amazon-ecs-exec-checker does).
import { GetRoleCommand, SimulatePrincipalPolicyCommand, type IAMClient } from "@aws-sdk/client-iam";
import { call, isNotFound } from "./errors.ts";

export interface RoleInfo {
  name: string;
  arn: string;
}

/** The role, or undefined when IAM has no role of that name. */
export async function findRole(iam: IAMClient, roleName: string): Promise<RoleInfo | undefined> {
  try {
    const out = await call({ action: "iam:GetRole", object: `role ${roleName}` }, () => iam.send(new GetRoleCommand({ RoleName: roleName })));
    return out.Role?.Arn ? { name: out.Role.RoleName ?? roleName, arn: out.Role.Arn } : undefined;
  } catch (error) {
    if (isNotFound(error, "NoSuchEntity", "NoSuchEntityException")) return undefined;
    throw error;
  }
}

/** The role name in a role ARN (`arn:aws:iam::1:role/path/name` → `name`). */
export function roleNameOf(roleArn: string): string {
  return roleArn.slice(roleArn.lastIndexOf("/") + 1);
}

/**
 * The IAM principal a caller ARN stands for: an assumed-role session
 * (`arn:aws:sts::1:assumed-role/Name/session`) is evaluated as its role `arn:aws:iam::1:role/Name`
 * (a role with a path needs GetRole for its real ARN); users and roles are themselves.
 */
export function principalOf(callerArn: string): { arn: string; roleName?: string } {
  const assumed = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(callerArn);
  if (assumed) return { arn: `arn:${assumed[1]}:iam::${assumed[2]}:role/${assumed[3]}`, roleName: assumed[3] };
  return { arn: callerArn };
}

export type Decision = "allowed" | "implicitDeny" | "explicitDeny";

/**
 * IAM's decision for each action on `resource`, from the principal's identity policies, with the
 * condition keys the real request would carry (`context`, string values): a policy scoped to a log
 * group, key or bucket is judged on that ARN, and a Condition on the context is evaluated.
 */
export async function simulatePrincipalPolicy(
  iam: IAMClient,
  principalArn: string,
  actions: string[],
  resource = "*",
  context: Record<string, string> = {},
): Promise<Record<string, Decision>> {
  const ContextEntries = Object.entries(context).map(([ContextKeyName, value]) => ({
    ContextKeyName,
    ContextKeyValues: [value],
    ContextKeyType: "string" as const,
  }));
  const out = await call({ action: "iam:SimulatePrincipalPolicy", object: principalArn }, () =>
    iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: principalArn,
        ActionNames: actions,
        ResourceArns: [resource],
        ...(ContextEntries.length ? { ContextEntries } : {}),
      }),
    ),
  );
  const decisions: Record<string, Decision> = {};
  for (const r of out.EvaluationResults ?? []) if (r.EvalActionName && r.EvalDecision) decisions[r.EvalActionName] = r.EvalDecision as Decision;
  for (const action of actions) if (!decisions[action]) throw new Error(`iam:SimulatePrincipalPolicy on ${principalArn} returned no decision for ${action}.`);
  return decisions;
}

// The demo world's principals hold exactly the rendered policies of docker/iam/ (make iam), so each
// program runs allowed what it would be on AWS, no more:
// - the bastion task role `<env>-bastion-task`: entrypoint-task-role and ecs-exec-task-role (what
//   the entrypoint and the SSM agent in a simulated container are given by the credentials endpoint);
// - each env's SSM service role under the name those policies pass (bastionless-<env>-ssm-instance),
//   holding ssm-instance-role;
// - the IAM user `bastionless-operator` (portforward, exec) and `bastionless-sweeper`
//   (cleanup-orphans), each with its policy rendered for every demo env, and an access key.
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, PutRolePolicyCommand, PutUserPolicyCommand, type IAMClient } from "@aws-sdk/client-iam";
import { renderPolicies } from "../../../docker/iam/policies.ts";
import { ACCOUNT } from "./principals.ts";

/** The SSM service role CreateActivation names for an env (docker/iam/README.md's convention). */
export const ssmInstanceRoleName = (env: string) => `bastionless-${env}-ssm-instance`;

/** The task role's inline policies, by name, as `make iam` renders them for this env. */
export const BASTION_TASK_ROLE_POLICIES = ["entrypoint-task-role", "ecs-exec-task-role"] as const;

/** The programs' IAM users and the policy each holds. */
export const PROGRAM_USERS = { operator: "bastionless-operator", sweeper: "bastionless-sweeper" } as const;
export type ProgramPrincipal = keyof typeof PROGRAM_USERS;

/** A principal's static credentials, as env vars for a child process. */
export type PrincipalEnv = { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string };

/**
 * The bastion task role's policies, the env's SSM service role, and the bastion's execution role
 * `<env>-bastion-execution` (the one the operator policy may pass besides the task role).
 */
export async function grantBastionRoles(
  iam: IAMClient,
  env: string,
  region: string,
  bastionTaskRole: string,
): Promise<{ ssmInstanceRole: string; executionRoleArn: string }> {
  const { policies } = renderPolicies({ env, account: ACCOUNT, region });
  for (const name of BASTION_TASK_ROLE_POLICIES) {
    await iam.send(new PutRolePolicyCommand({ RoleName: bastionTaskRole, PolicyName: name, PolicyDocument: JSON.stringify(policies[name]) }));
  }
  const role = ssmInstanceRoleName(env);
  await iam.send(new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: JSON.stringify(policies["ssm-instance-role-trust"]) }));
  await iam.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: "ssm-instance-role", PolicyDocument: JSON.stringify(policies["ssm-instance-role"]) }));
  const ecsTasks = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }] };
  const execution = await iam.send(new CreateRoleCommand({ RoleName: `${env}-bastion-execution`, AssumeRolePolicyDocument: JSON.stringify(ecsTasks) }));
  return { ssmInstanceRole: role, executionRoleArn: execution.Role!.Arn! };
}

/** Creates the operator and sweeper users with their policies for each env; their keys. */
export async function createProgramUsers(iam: IAMClient, envs: readonly string[], region: string): Promise<Record<ProgramPrincipal, PrincipalEnv>> {
  const out = {} as Record<ProgramPrincipal, PrincipalEnv>;
  for (const [principal, user] of Object.entries(PROGRAM_USERS) as [ProgramPrincipal, string][]) {
    await iam.send(new CreateUserCommand({ UserName: user }));
    for (const env of envs) {
      const document = renderPolicies({ env, account: ACCOUNT, region }).policies[principal];
      await iam.send(new PutUserPolicyCommand({ UserName: user, PolicyName: `${principal}-${env}`, PolicyDocument: JSON.stringify(document) }));
    }
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey!;
    out[principal] = { AWS_ACCESS_KEY_ID: key.AccessKeyId!, AWS_SECRET_ACCESS_KEY: key.SecretAccessKey! };
  }
  return out;
}

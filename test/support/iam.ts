// IAM in e2e tests: the programs run as their principals (cloud.principalEnv), and a test fails
// when the local cloud refused any call — a missing permission is named by its exact action.
import { CreateRoleCommand, GetRoleCommand, IAMClient, PutUserPolicyCommand } from "@aws-sdk/client-iam";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { renderPolicies } from "../../docker/iam/policies.ts";
import { ACCOUNT, PROGRAM_USERS, grantBastionRoles, ssmInstanceRoleName, type LocalCloud, type ProgramPrincipal } from "../localcloud/index.ts";
import { cloudConfig } from "./clients.ts";

/** One line per call the cloud refused since `since` (an index into cloud.deniedCalls()). */
export function deniedCallLines(cloud: LocalCloud, since = 0): string[] {
  return cloud
    .deniedCalls()
    .slice(since)
    .map((d) => `${d.caller} was denied ${d.action} on ${d.resource}`);
}

/**
 * Call in afterEach: throws when a call was refused during the test, naming each denied action
 * (a program that reports a denial as a warning and goes on would otherwise pass).
 */
export function watchDenials(cloud: () => LocalCloud | undefined): () => void {
  let seen = 0;
  let seenCloud: LocalCloud | undefined;
  return () => {
    const c = cloud();
    if (!c) return;
    if (c !== seenCloud) [seenCloud, seen] = [c, 0];
    const lines = deniedCallLines(c, seen);
    seen = c.deniedCalls().length;
    if (lines.length) throw new Error(`the local cloud refused ${lines.length} call(s):\n${lines.join("\n")}`);
  };
}

export { ROOT_KEY } from "./clients.ts";

/**
 * The entrypoint's principal when it runs on the host (no ECS credentials endpoint): a session of
 * `<env>-bastion-task` holding the rendered entrypoint-task-role and ecs-exec-task-role policies,
 * created in the cloud as the demo world creates it (the demo world's own for its envs), and the
 * env's SSM service role to pass. Call after every cloud.reset() (a reset forgets IAM).
 */
export async function entrypointRoleEnv(cloud: LocalCloud, env = "stg"): Promise<Record<string, string>> {
  const config = cloudConfig(cloud);
  const iam = new IAMClient(config);
  const sts = new STSClient(config);
  try {
    const roleName = `${env}-bastion-task`;
    // The demo world has the role for its envs already, with the same policies.
    let role = await iam.send(new GetRoleCommand({ RoleName: roleName })).then(
      (r) => r.Role,
      (error: Error) => {
        if (error.name === "NoSuchEntityException" || error.name === "NoSuchEntity") return undefined;
        throw error;
      },
    );
    if (!role) {
      const trust = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }] };
      role = (await iam.send(new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify(trust) }))).Role!;
      await grantBastionRoles(iam, env, cloud.region, roleName);
    }
    const ssmInstanceRole = ssmInstanceRoleName(env);
    const c = (await sts.send(new AssumeRoleCommand({ RoleArn: role.Arn, RoleSessionName: "host-entrypoint" }))).Credentials!;
    return {
      AWS_ACCESS_KEY_ID: c.AccessKeyId!,
      AWS_SECRET_ACCESS_KEY: c.SecretAccessKey!,
      AWS_SESSION_TOKEN: c.SessionToken!,
      BASTION_IAM_ROLE: ssmInstanceRole,
    };
  } finally {
    iam.destroy();
    sts.destroy();
  }
}

/**
 * Gives the demo world's operator and sweeper their policies rendered for one more env (the demo
 * world renders them for stg and prod), as `make iam ENV=<env>` would for a team that has it.
 * Call after every cloud.reset().
 */
export async function grantProgramPolicies(cloud: LocalCloud, env: string): Promise<void> {
  const iam = new IAMClient(cloudConfig(cloud));
  try {
    const { policies } = renderPolicies({ env, account: ACCOUNT, region: cloud.region });
    for (const [principal, user] of Object.entries(PROGRAM_USERS) as [ProgramPrincipal, string][]) {
      await iam.send(new PutUserPolicyCommand({ UserName: user, PolicyName: `${principal}-${env}`, PolicyDocument: JSON.stringify(policies[principal]) }));
    }
  } finally {
    iam.destroy();
  }
}

// The demo world (`--world demo`): per env (stg, prod) a cluster with a FARGATE app service in
// awsvpc, a bastion task definition, and an aurora-postgresql cluster, created through the
// gateway with the SDK exactly as a user's infrastructure code would.
import { EC2Client, CreateSecurityGroupCommand, DescribeSubnetsCommand, DescribeVpcsCommand } from "@aws-sdk/client-ec2";
import { CreateClusterCommand, CreateServiceCommand, ECSClient, RegisterTaskDefinitionCommand, RunTaskCommand } from "@aws-sdk/client-ecs";
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { CreateDBClusterCommand, CreateDBInstanceCommand, RDSClient } from "@aws-sdk/client-rds";
import { randomInt } from "node:crypto";
import { renderPolicies } from "../../docker/iam/policies.ts";
import { ACCOUNT } from "./iam/principals.ts";
import { createProgramUsers, grantBastionRoles, type PrincipalEnv, type ProgramPrincipal } from "./iam/demo-roles.ts";

export const DEMO_REGION = "ap-northeast-1";
export const DEMO_ENVS = ["stg", "prod"] as const;

export interface WorldTarget {
  endpoint: string;
  region: string;
  /** Where the Aurora endpoints really lead (the local PostgreSQL), if any. */
  database?: { host: string; port: number };
  mapHost(from: string, to: { host: string; port: number }): void;
}

// The SDK warns about Node 20 at client creation; the local cloud is not the place to say so.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const TRUST = (service: string) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }] });

function clients(endpoint: string, region: string) {
  const config = { endpoint, region, credentials: { accessKeyId: "localcloud", secretAccessKey: "localcloud" }, maxAttempts: 1 };
  return { ec2: new EC2Client(config), ecs: new ECSClient(config), iam: new IAMClient(config), rds: new RDSClient(config) };
}

/** The demo world's program principals: the operator's and the sweeper's keys. */
export async function buildDemoWorld(t: WorldTarget): Promise<Record<ProgramPrincipal, PrincipalEnv>> {
  const { ec2, ecs, iam, rds } = clients(t.endpoint, t.region);
  try {
    const vpc = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] }))).Vpcs![0];
    // moto's default VPC has DNS hostnames on, which its RunTask needs (see the reference).
    const subnets = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [vpc.VpcId!] }] })))
      .Subnets!.map((s) => s.SubnetId!)
      .sort()
      .slice(0, 2);
    // The role older tests name in CreateActivation as root; the bastions pass their env's own (grantDemoRoles).
    // Its instances' agents call with it, so it holds the SSM instance role's policy (stg's).
    await iam.send(new CreateRoleCommand({ RoleName: "bastionless-ssm-managed-instance", AssumeRolePolicyDocument: TRUST("ssm.amazonaws.com") }));
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: "bastionless-ssm-managed-instance",
        PolicyName: "ssm-instance-role",
        PolicyDocument: JSON.stringify(renderPolicies({ env: "stg", account: ACCOUNT, region: t.region }).policies["ssm-instance-role"]),
      }),
    );
    const principals = await createProgramUsers(iam, DEMO_ENVS, t.region);
    const execRole = await iam.send(new CreateRoleCommand({ RoleName: "ecsTaskExecutionRole", AssumeRolePolicyDocument: TRUST("ecs-tasks.amazonaws.com") }));
    for (const env of DEMO_ENVS) {
      const envTag = [{ key: "bastionless:env", value: env }];
      const taskRole = await iam.send(new CreateRoleCommand({ RoleName: `${env}-bastion-task`, AssumeRolePolicyDocument: TRUST("ecs-tasks.amazonaws.com") }));
      const { ssmInstanceRole, executionRoleArn } = await grantBastionRoles(iam, env, t.region, taskRole.Role!.RoleName!);
      const appSg = await ec2.send(new CreateSecurityGroupCommand({ GroupName: `${env}-app`, Description: `${env} app tasks`, VpcId: vpc.VpcId }));
      const dbSg = await ec2.send(new CreateSecurityGroupCommand({ GroupName: `${env}-db`, Description: `${env} aurora`, VpcId: vpc.VpcId }));
      await ecs.send(
        new CreateClusterCommand({
          clusterName: `${env}-main`,
          tags: envTag,
          configuration: { executeCommandConfiguration: { logging: "DEFAULT" } },
        }),
      );
      const fargate = {
        requiresCompatibilities: ["FARGATE" as const],
        networkMode: "awsvpc" as const,
        cpu: "256",
        memory: "512",
        taskRoleArn: taskRole.Role!.Arn,
        executionRoleArn: execRole.Role!.Arn,
        tags: envTag,
      };
      await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: `${env}-app`,
          ...fargate,
          containerDefinitions: [{ name: "app", image: "localcloud/app", essential: true, environment: [{ name: "APP_ENV", value: env }] }],
        }),
      );
      await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: `${env}-bastion`,
          ...fargate,
          executionRoleArn,
          containerDefinitions: [
            {
              name: "bastion",
              image: "localcloud/bastion",
              essential: true,
              environment: [
                { name: "BASTION_ENV", value: env },
                { name: "BASTION_IAM_ROLE", value: ssmInstanceRole },
              ],
            },
          ],
        }),
      );
      const network = { awsvpcConfiguration: { subnets, securityGroups: [appSg.GroupId!], assignPublicIp: "DISABLED" as const } };
      await ecs.send(
        new CreateServiceCommand({
          cluster: `${env}-main`,
          serviceName: `${env}-app`,
          taskDefinition: `${env}-app`,
          desiredCount: 1,
          launchType: "FARGATE",
          networkConfiguration: network,
          enableExecuteCommand: true,
          tags: envTag,
        }),
      );
      // moto's services launch nothing: start the service's task ourselves, in the service's group.
      await ecs.send(
        new RunTaskCommand({
          cluster: `${env}-main`,
          taskDefinition: `${env}-app`,
          launchType: "FARGATE",
          networkConfiguration: network,
          enableExecuteCommand: true,
          group: `service:${env}-app`,
          startedBy: `ecs-svc/${randomInt(1e9, 9e9)}${randomInt(1e5, 9e5)}`,
        }),
      );
      const db = await rds.send(
        new CreateDBClusterCommand({
          DBClusterIdentifier: `${env}-db`,
          Engine: "aurora-postgresql",
          EngineVersion: "15.4",
          Port: 5432,
          MasterUsername: "app",
          MasterUserPassword: "localcloud-not-a-secret",
          DatabaseName: "app",
          VpcSecurityGroupIds: [dbSg.GroupId!],
          Tags: [{ Key: "bastionless:env", Value: env }],
        }),
      );
      await rds.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: `${env}-db-1`,
          DBClusterIdentifier: `${env}-db`,
          Engine: "aurora-postgresql",
          DBInstanceClass: "db.t4g.medium",
        }),
      );
      if (t.database) {
        for (const host of [db.DBCluster!.Endpoint, db.DBCluster!.ReaderEndpoint]) if (host) t.mapHost(host, t.database);
      }
    }
    return principals;
  } finally {
    for (const c of [ec2, ecs, iam, rds]) c.destroy();
  }
}

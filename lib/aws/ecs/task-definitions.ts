// ECS task definitions: what each container sets that ECS Exec and the bastion depend on.
import { DescribeTaskDefinitionCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { call } from "../errors.ts";

export interface TaskDefinitionInfo {
  arn: string;
  family: string;
  revision: number;
  taskRoleArn?: string;
  pidMode?: string;
  containers: Array<{
    name: string;
    image?: string;
    initProcessEnabled: boolean;
    readonlyRootFilesystem: boolean;
    essential: boolean;
    /** awslogs-group when the container logs with the awslogs driver (where DEFAULT exec logging goes). */
    awslogsGroup?: string;
    /** Names of AWS_ credential variables set in the definition: they replace the task role's credentials. */
    credentialEnv: string[];
    /** The container's environment as the definition sets it (not the image's). */
    environment?: Record<string, string>;
  }>;
}

const CREDENTIAL_ENV = ["AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN"];

export async function describeTaskDefinition(ecs: ECSClient, taskDefinition: string): Promise<TaskDefinitionInfo> {
  const out = await call({ action: "ecs:DescribeTaskDefinition", object: `task definition ${taskDefinition}` }, () =>
    ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition })),
  );
  const td = out.taskDefinition;
  return {
    arn: td?.taskDefinitionArn ?? taskDefinition,
    family: td?.family ?? taskDefinition,
    revision: td?.revision ?? 0,
    taskRoleArn: td?.taskRoleArn,
    pidMode: td?.pidMode,
    containers: (td?.containerDefinitions ?? []).map((c) => ({
      name: c.name ?? "",
      image: c.image,
      initProcessEnabled: c.linuxParameters?.initProcessEnabled ?? false,
      readonlyRootFilesystem: c.readonlyRootFilesystem ?? false,
      essential: c.essential ?? true,
      awslogsGroup: c.logConfiguration?.logDriver === "awslogs" ? c.logConfiguration.options?.["awslogs-group"] : undefined,
      credentialEnv: (c.environment ?? []).map((e) => e.name ?? "").filter((n) => CREDENTIAL_ENV.includes(n)),
      environment: Object.fromEntries((c.environment ?? []).filter((e) => e.name).map((e) => [e.name!, e.value ?? ""])),
      // Variables set where the definition does not show their values: env files, and secrets by name.
      hiddenEnvironment: Boolean(c.environmentFiles?.length) || (c.secrets ?? []).some((x) => x.name === "BASTION_ENV" || x.name === "ENV"),
    })),
  };
}

/** What ECS Exec depends on in a task definition, beyond describeTaskDefinition: logging and credential env per container. */
export interface ExecTaskDefinitionInfo extends TaskDefinitionInfo {
  containerExtras: Array<{ name: string; awslogsGroup?: string; credentialEnv: string[] }>;
}

export async function describeExecTaskDefinition(ecs: ECSClient, taskDefinition: string): Promise<ExecTaskDefinitionInfo> {
  const info = await describeTaskDefinition(ecs, taskDefinition);
  return { ...info, containerExtras: info.containers.map(({ name, awslogsGroup, credentialEnv }) => ({ name, awslogsGroup, credentialEnv })) };
}

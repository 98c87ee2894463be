// ECS clusters and their services: names, exec configuration, what a service runs its tasks with.
import {
  DescribeClustersCommand,
  DescribeServicesCommand,
  paginateListClusters,
  paginateListServices,
  type CapacityProviderStrategyItem,
  type ECSClient,
  type NetworkConfiguration,
} from "@aws-sdk/client-ecs";
import { call, callPages } from "../errors.ts";
import { lastSegment } from "./arns.ts";

export async function listClusterNames(ecs: ECSClient): Promise<string[]> {
  const names: string[] = [];
  for await (const page of callPages({ action: "ecs:ListClusters" }, paginateListClusters({ client: ecs }, {}))) {
    names.push(...(page.clusterArns ?? []).map(lastSegment));
  }
  return names.sort();
}

export interface ClusterInfo {
  name: string;
  arn: string;
  status: string;
  execKmsKeyId?: string;
  execLogging?: string;
  execLogGroup?: string;
  execS3Bucket?: string;
  execS3KeyPrefix?: string;
  execS3EncryptionEnabled?: boolean;
}

export async function describeCluster(ecs: ECSClient, cluster: string): Promise<ClusterInfo | undefined> {
  const out = await call({ action: "ecs:DescribeClusters", object: `cluster ${cluster}` }, () =>
    ecs.send(new DescribeClustersCommand({ clusters: [cluster], include: ["CONFIGURATIONS"] })),
  );
  const c = out.clusters?.[0];
  if (!c?.clusterArn || c.status === "INACTIVE") return undefined;
  const exec = c.configuration?.executeCommandConfiguration;
  return {
    name: c.clusterName ?? lastSegment(c.clusterArn),
    arn: c.clusterArn,
    status: c.status ?? "UNKNOWN",
    execKmsKeyId: exec?.kmsKeyId,
    execLogging: exec?.logging,
    execLogGroup: exec?.logConfiguration?.cloudWatchLogGroupName,
    execS3Bucket: exec?.logConfiguration?.s3BucketName,
    execS3KeyPrefix: exec?.logConfiguration?.s3KeyPrefix,
    execS3EncryptionEnabled: exec?.logConfiguration?.s3EncryptionEnabled,
  };
}

export async function listServiceNames(ecs: ECSClient, cluster: string): Promise<string[]> {
  const names: string[] = [];
  for await (const page of callPages({ action: "ecs:ListServices", object: `cluster ${cluster}` }, paginateListServices({ client: ecs }, { cluster }))) {
    names.push(...(page.serviceArns ?? []).map(lastSegment));
  }
  return names.sort();
}

export interface ServiceInfo {
  name: string;
  taskDefinition?: string;
  launchType?: string;
  capacityProviderStrategy?: CapacityProviderStrategyItem[];
  platformVersion?: string;
  networkConfiguration?: NetworkConfiguration;
}

export async function describeService(ecs: ECSClient, cluster: string, service: string): Promise<ServiceInfo | undefined> {
  const out = await call({ action: "ecs:DescribeServices", object: `service ${service} in cluster ${cluster}` }, () =>
    ecs.send(new DescribeServicesCommand({ cluster, services: [service] })),
  );
  const s = out.services?.find((x) => x.status !== "INACTIVE");
  if (!s) return undefined;
  return {
    name: s.serviceName ?? service,
    taskDefinition: s.taskDefinition,
    launchType: s.launchType,
    capacityProviderStrategy: s.capacityProviderStrategy?.length ? s.capacityProviderStrategy : undefined,
    platformVersion: s.platformVersion,
    networkConfiguration: s.networkConfiguration ?? s.deployments?.find((d) => d.networkConfiguration)?.networkConfiguration,
  };
}

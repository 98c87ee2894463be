// RDS calls: the databases a tunnel can lead to (Aurora clusters and standalone instances).
import { paginateDescribeDBClusters, paginateDescribeDBInstances, type RDSClient } from "@aws-sdk/client-rds";
import { callPages } from "./errors.ts";
import { fromAwsTags } from "./tags.ts";

export interface DatabaseTarget {
  kind: "cluster" | "instance";
  id: string;
  engine: string;
  host: string;
  port: number;
  status: string;
  readerHost?: string;
  tags: Record<string, string>;
}

/** Default ports by engine family, for instances that do not report one. */
function defaultPort(engine: string): number {
  if (engine.includes("postgres")) return 5432;
  if (engine.includes("sqlserver")) return 1433;
  if (engine.includes("oracle")) return 1521;
  return 3306;
}

/** Aurora/RDS clusters, then standalone instances (cluster members are reached through their cluster). */
export async function listDatabaseTargets(rds: RDSClient): Promise<DatabaseTarget[]> {
  const targets: DatabaseTarget[] = [];
  for await (const page of callPages({ action: "rds:DescribeDBClusters" }, paginateDescribeDBClusters({ client: rds }, {}))) {
    for (const c of page.DBClusters ?? []) {
      if (!c.DBClusterIdentifier || !c.Endpoint) continue;
      const engine = c.Engine ?? "unknown";
      targets.push({
        kind: "cluster",
        id: c.DBClusterIdentifier,
        engine,
        host: c.Endpoint,
        port: c.Port ?? defaultPort(engine),
        status: c.Status ?? "unknown",
        readerHost: c.ReaderEndpoint,
        tags: fromAwsTags(c.TagList),
      });
    }
  }
  for await (const page of callPages({ action: "rds:DescribeDBInstances" }, paginateDescribeDBInstances({ client: rds }, {}))) {
    for (const i of page.DBInstances ?? []) {
      if (!i.DBInstanceIdentifier || i.DBClusterIdentifier || !i.Endpoint?.Address) continue;
      const engine = i.Engine ?? "unknown";
      targets.push({
        kind: "instance",
        id: i.DBInstanceIdentifier,
        engine,
        host: i.Endpoint.Address,
        port: i.Endpoint.Port ?? defaultPort(engine),
        status: i.DBInstanceStatus ?? "unknown",
        tags: fromAwsTags(i.TagList),
      });
    }
  }
  return targets;
}

// RDS calls: the databases a tunnel can lead to (Aurora clusters and standalone instances).
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, type RDSClient } from "@aws-sdk/client-rds";
import { call } from "./errors.ts";

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

const tagsOf = (list: Array<{ Key?: string; Value?: string }> | undefined) => Object.fromEntries((list ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));

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
  let marker: string | undefined;
  do {
    const page = await call({ action: "rds:DescribeDBClusters" }, () => rds.send(new DescribeDBClustersCommand({ Marker: marker })));
    for (const c of page.DBClusters ?? []) {
      if (!c.DBClusterIdentifier || !c.Endpoint) continue;
      const engine = c.Engine ?? "unknown";
      targets.push({ kind: "cluster", id: c.DBClusterIdentifier, engine, host: c.Endpoint, port: c.Port ?? defaultPort(engine), status: c.Status ?? "unknown", readerHost: c.ReaderEndpoint, tags: tagsOf(c.TagList) });
    }
    marker = page.Marker;
  } while (marker);
  marker = undefined;
  do {
    const page = await call({ action: "rds:DescribeDBInstances" }, () => rds.send(new DescribeDBInstancesCommand({ Marker: marker })));
    for (const i of page.DBInstances ?? []) {
      if (!i.DBInstanceIdentifier || i.DBClusterIdentifier || !i.Endpoint?.Address) continue;
      const engine = i.Engine ?? "unknown";
      targets.push({ kind: "instance", id: i.DBInstanceIdentifier, engine, host: i.Endpoint.Address, port: i.Endpoint.Port ?? defaultPort(engine), status: i.DBInstanceStatus ?? "unknown", tags: tagsOf(i.TagList) });
    }
    marker = page.Marker;
  } while (marker);
  return targets;
}

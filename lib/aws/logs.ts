// CloudWatch Logs: whether a log group exists (where ECS Exec writes session transcripts).
import { paginateDescribeLogGroups, type CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { callPages } from "./errors.ts";

export interface LogGroupInfo {
  name: string;
  arn?: string;
  kmsKeyId?: string;
}

/** The log group of exactly that name, or undefined (DescribeLogGroups matches by prefix; paging inside). */
export async function findLogGroup(logs: CloudWatchLogsClient, name: string): Promise<LogGroupInfo | undefined> {
  const pages = paginateDescribeLogGroups({ client: logs }, { logGroupNamePrefix: name });
  for await (const page of callPages({ action: "logs:DescribeLogGroups", object: `log group ${name}` }, pages)) {
    const group = page.logGroups?.find((g) => g.logGroupName === name);
    if (group) return { name, arn: group.arn, kmsKeyId: group.kmsKeyId };
  }
  return undefined;
}

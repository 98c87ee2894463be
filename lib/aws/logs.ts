// CloudWatch Logs: whether a log group exists (where ECS Exec writes session transcripts).
import { DescribeLogGroupsCommand, type CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { call } from "./errors.ts";

export interface LogGroupInfo {
  name: string;
  arn?: string;
  kmsKeyId?: string;
}

/** The log group of exactly that name, or undefined (DescribeLogGroups matches by prefix; paging inside). */
export async function findLogGroup(logs: CloudWatchLogsClient, name: string): Promise<LogGroupInfo | undefined> {
  let nextToken: string | undefined;
  do {
    const page = await call({ action: "logs:DescribeLogGroups", object: `log group ${name}` }, () =>
      logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: name, nextToken })),
    );
    const group = page.logGroups?.find((g) => g.logGroupName === name);
    if (group) return { name, arn: group.arn, kmsKeyId: group.kmsKeyId };
    nextToken = page.nextToken;
  } while (nextToken);
  return undefined;
}

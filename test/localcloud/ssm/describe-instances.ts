// DescribeInstanceInformation for hybrid managed instances: filters (incl. tag:), paging, PingStatus.
import { hostname } from "node:os";
import { AwsError } from "../aws-errors.ts";
import { epochSeconds } from "../clock.ts";
import type { CloudContext, Handler } from "../context.ts";
import type { ManagedInstance } from "../state.ts";
import { pingStatus } from "./ping.ts";
import { optionalInt, page } from "./validate.ts";

export const AGENT_VERSION = "3.3.1142.0";

const FILTER_KEYS = [
  "ActivationIds",
  "AgentVersion",
  "AssociationStatus",
  "IamRole",
  "InstanceIds",
  "PingStatus",
  "PlatformType",
  "ResourceType",
  "SourceIds",
  "SourceTypes",
];
// The legacy InstanceInformationFilterList uses its own (lower-camel) keys.
const LEGACY_KEYS: Record<string, string> = {
  InstanceIds: "InstanceIds",
  AgentVersion: "AgentVersion",
  PingStatus: "PingStatus",
  PlatformTypes: "PlatformType",
  ActivationIds: "ActivationIds",
  IamRole: "IamRole",
  ResourceType: "ResourceType",
  AssociationStatus: "AssociationStatus",
};

export function instanceInformation(ctx: CloudContext, mi: ManagedInstance) {
  return {
    InstanceId: mi.id,
    PingStatus: pingStatus(ctx, mi),
    LastPingDateTime: epochSeconds(mi.lastPingMs),
    AgentVersion: AGENT_VERSION,
    IsLatestVersion: false,
    PlatformType: "Linux",
    PlatformName: "Debian GNU/Linux",
    PlatformVersion: "12",
    ActivationId: mi.activationId,
    IamRole: mi.iamRole,
    RegistrationDate: epochSeconds(mi.registeredMs),
    ResourceType: "ManagedInstance",
    Name: mi.name,
    IPAddress: "127.0.0.1",
    ComputerName: mi.agent?.hostname ?? hostname(),
    SourceId: mi.id,
    SourceType: "AWS::SSM::ManagedInstance",
  };
}

function fieldValues(ctx: CloudContext, mi: ManagedInstance, key: string): string[] {
  const info = instanceInformation(ctx, mi);
  switch (key) {
    case "ActivationIds":
      return [info.ActivationId];
    case "AgentVersion":
      return [info.AgentVersion];
    case "AssociationStatus":
      return [];
    case "IamRole":
      return [info.IamRole];
    case "InstanceIds":
      return [info.InstanceId];
    case "PingStatus":
      return [info.PingStatus];
    case "PlatformType":
      return [info.PlatformType];
    case "ResourceType":
      return [info.ResourceType];
    case "SourceIds":
      return [info.SourceId];
    case "SourceTypes":
      return [info.SourceType];
    case "tag-key":
      return mi.tags.map((t) => t.Key);
    default:
      return mi.tags.filter((t) => `tag:${t.Key}` === key).map((t) => t.Value);
  }
}

interface Filter {
  key: string;
  values: string[];
}

function readFilters(body: any): Filter[] {
  if (body.Filters && body.InstanceInformationFilterList) {
    throw new AwsError("InvalidInstanceInformationFilterValue", "Filters and InstanceInformationFilterList cannot be used in the same request.");
  }
  const filters: Filter[] = [];
  for (const f of body.InstanceInformationFilterList ?? []) {
    const key = LEGACY_KEYS[f.key];
    if (!key) throw new AwsError("InvalidFilterKey", `The specified key ${f.key} is not valid.`);
    filters.push({ key, values: f.valueSet ?? [] });
  }
  for (const f of body.Filters ?? []) {
    const key = String(f.Key ?? "");
    if (!FILTER_KEYS.includes(key) && key !== "tag-key" && !/^tag:.+/.test(key)) {
      throw new AwsError("InvalidFilterKey", `The specified key ${key} is not valid.`);
    }
    filters.push({ key, values: f.Values ?? [] });
  }
  for (const f of filters) {
    if (f.values.length < 1 || f.values.length > 100) {
      throw new AwsError("InvalidInstanceInformationFilterValue", `The filter ${f.key} must have between 1 and 100 values.`);
    }
    if (f.key === "InstanceIds") {
      const bad = f.values.find((v) => !/^(mi-[0-9a-f]{17}|i-[0-9a-f]{8,17})$/.test(v));
      if (bad) throw new AwsError("InvalidInstanceId", `The following supplied instance ids are not valid: ${bad}`);
    }
  }
  const isTag = (f: Filter) => f.key.startsWith("tag:") || f.key === "tag-key";
  if (filters.some(isTag) && filters.some((f) => !isTag(f))) {
    throw new AwsError("InvalidFilterKey", "Tag filters cannot be combined with other filter types.");
  }
  return filters;
}

export const describeInstanceInformation: Handler = async (ctx, { region, body }) => {
  const maxResults = optionalInt("maxResults", body.MaxResults, 5, 50) ?? 10;
  const filters = readFilters(body);
  const list = [...ctx.state.instances.values()]
    .filter((mi) => mi.region === region)
    .filter((mi) => filters.every((f) => fieldValues(ctx, mi, f.key).some((v) => f.values.includes(v))))
    .sort((a, b) => a.registeredMs - b.registeredMs || a.id.localeCompare(b.id));
  const p = page("DescribeInstanceInformation", list, maxResults, body.NextToken);
  return { InstanceInformationList: p.items.map((mi) => instanceInformation(ctx, mi)), NextToken: p.nextToken };
};

// Every SSM call the programs make: activations, managed instances, the instance-id parameters.
// Verb-first, client first, paging inside, plain camelCase results.
import {
  AddTagsToResourceCommand,
  CreateActivationCommand,
  DeleteActivationCommand,
  DeleteParameterCommand,
  DeregisterManagedInstanceCommand,
  GetParameterCommand,
  ListTagsForResourceCommand,
  PutParameterCommand,
  paginateDescribeActivations,
  paginateDescribeInstanceInformation,
  paginateDescribeParameters,
  paginateGetParametersByPath,
  type InstanceInformationStringFilter,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import type { Tags } from "../constants.ts";
import { AwsCallError, call, callPages } from "./errors.ts";
import { fromAwsTags, toAwsTags } from "./tags.ts";

/** Per call: an AbortSignal that cancels the request (a deadline on the shutdown path). */
export interface CallOptions {
  abortSignal?: AbortSignal;
}

function sendOptions(options: CallOptions): { abortSignal?: AbortSignal } {
  return options.abortSignal ? { abortSignal: options.abortSignal } : {};
}

/** True when `error` (raw or wrapped by `call`) is one of the AWS error `names`. */
function failedWith(error: unknown, ...names: string[]): boolean {
  const name = error instanceof AwsCallError ? error.errorName : (error as { name?: string } | undefined)?.name;
  return names.includes(name ?? "");
}

// ---- activations ----------------------------------------------------------------------------

export interface NewActivation {
  /** The IAM role (name, optionally with path) SSM gives the managed instance; trusted by ssm.amazonaws.com. */
  iamRole: string;
  expiresAt: Date;
  /** How many machines may register with the code; 1 for a container. */
  registrationLimit?: number;
  defaultInstanceName?: string;
  description?: string;
  /** Copied by AWS onto the managed instance at registration. */
  tags: Tags;
}

export interface Activation {
  activationId: string;
  /** A secret: whoever has it (and the id) can register a machine. Never log it. */
  activationCode: string;
}

export async function createActivation(ssm: SSMClient, activation: NewActivation, options: CallOptions = {}): Promise<Activation> {
  const out = await call({ action: "ssm:CreateActivation", object: `role ${activation.iamRole}` }, () =>
    ssm.send(
      new CreateActivationCommand({
        IamRole: activation.iamRole,
        RegistrationLimit: activation.registrationLimit ?? 1,
        ExpirationDate: activation.expiresAt,
        ...(activation.defaultInstanceName ? { DefaultInstanceName: activation.defaultInstanceName } : {}),
        ...(activation.description ? { Description: activation.description } : {}),
        Tags: toAwsTags(activation.tags),
      }),
      sendOptions(options),
    ),
  );
  if (!out.ActivationId || !out.ActivationCode) throw new Error("ssm:CreateActivation answered without an activation id or code");
  return { activationId: out.ActivationId, activationCode: out.ActivationCode };
}

/** Deletes an activation; false when it was already gone. Instances registered with it stay registered. */
export async function deleteActivation(ssm: SSMClient, activationId: string, options: CallOptions = {}): Promise<boolean> {
  try {
    await call({ action: "ssm:DeleteActivation", object: `activation ${activationId}` }, () =>
      ssm.send(new DeleteActivationCommand({ ActivationId: activationId }), sendOptions(options)),
    );
    return true;
  } catch (error) {
    if (failedWith(error, "InvalidActivationId", "InvalidActivation")) return false;
    throw error;
  }
}

export interface ActivationInfo {
  activationId: string;
  description?: string;
  defaultInstanceName?: string;
  iamRole?: string;
  registrationLimit?: number;
  registrationsCount?: number;
  expiresAt?: Date;
  expired: boolean;
  createdAt?: Date;
  tags: Tags;
}

export interface ActivationFilter {
  activationIds?: string[];
  iamRole?: string;
  defaultInstanceName?: string;
}

/** Every activation matching the filter (all pages). */
export async function listActivations(ssm: SSMClient, filter: ActivationFilter = {}, options: CallOptions = {}): Promise<ActivationInfo[]> {
  const filters = [
    ...(filter.activationIds?.length ? [{ FilterKey: "ActivationIds" as const, FilterValues: filter.activationIds }] : []),
    ...(filter.iamRole ? [{ FilterKey: "IamRole" as const, FilterValues: [filter.iamRole] }] : []),
    ...(filter.defaultInstanceName ? [{ FilterKey: "DefaultInstanceName" as const, FilterValues: [filter.defaultInstanceName] }] : []),
  ];
  const found: ActivationInfo[] = [];
  const pages = paginateDescribeActivations({ client: ssm }, { ...(filters.length ? { Filters: filters } : {}), MaxResults: 50 }, sendOptions(options));
  for await (const page of callPages({ action: "ssm:DescribeActivations" }, pages)) {
    for (const a of page.ActivationList ?? []) {
      if (!a.ActivationId) continue;
      found.push({
        activationId: a.ActivationId,
        description: a.Description,
        defaultInstanceName: a.DefaultInstanceName,
        iamRole: a.IamRole,
        registrationLimit: a.RegistrationLimit,
        registrationsCount: a.RegistrationsCount,
        expiresAt: a.ExpirationDate,
        expired: a.Expired ?? false,
        createdAt: a.CreatedDate,
        tags: fromAwsTags(a.Tags),
      });
    }
  }
  return found;
}

// ---- managed instances ------------------------------------------------------------------------

export interface ManagedInstanceInfo {
  instanceId: string;
  pingStatus?: "Online" | "ConnectionLost" | "Inactive";
  lastPingAt?: Date;
  name?: string;
  activationId?: string;
  iamRole?: string;
  registeredAt?: Date;
  agentVersion?: string;
  resourceType?: string;
  computerName?: string;
  ipAddress?: string;
  sourceId?: string;
}

/** What to look for; AWS does not let tag filters be combined with the others. */
export type InstanceFilter =
  { tags: Record<string, string | string[]>; activationIds?: never; instanceIds?: never } | { tags?: never; activationIds?: string[]; instanceIds?: string[] };

/** Every managed instance matching the filter (all pages). */
export async function listManagedInstances(ssm: SSMClient, filter: InstanceFilter = {}, options: CallOptions = {}): Promise<ManagedInstanceInfo[]> {
  const filters: InstanceInformationStringFilter[] = [];
  for (const [key, value] of Object.entries(filter.tags ?? {})) filters.push({ Key: `tag:${key}`, Values: [value].flat() });
  if (filter.activationIds?.length) filters.push({ Key: "ActivationIds", Values: filter.activationIds });
  if (filter.instanceIds?.length) filters.push({ Key: "InstanceIds", Values: filter.instanceIds });
  const found: ManagedInstanceInfo[] = [];
  const pages = paginateDescribeInstanceInformation({ client: ssm }, { ...(filters.length ? { Filters: filters } : {}), MaxResults: 50 }, sendOptions(options));
  for await (const page of callPages({ action: "ssm:DescribeInstanceInformation" }, pages)) {
    for (const i of page.InstanceInformationList ?? []) {
      if (!i.InstanceId) continue;
      found.push({
        instanceId: i.InstanceId,
        pingStatus: i.PingStatus,
        lastPingAt: i.LastPingDateTime,
        name: i.Name,
        activationId: i.ActivationId,
        iamRole: i.IamRole,
        registeredAt: i.RegistrationDate,
        agentVersion: i.AgentVersion,
        resourceType: i.ResourceType,
        computerName: i.ComputerName,
        ipAddress: i.IPAddress,
        sourceId: i.SourceId,
      });
    }
  }
  return found;
}

/** The tags of a managed instance (`mi-…`); AWS copies them from the activation at registration. */
export async function listInstanceTags(ssm: SSMClient, instanceId: string, options: CallOptions = {}): Promise<Tags> {
  const out = await call({ action: "ssm:ListTagsForResource", object: `managed instance ${instanceId}` }, () =>
    ssm.send(new ListTagsForResourceCommand({ ResourceType: "ManagedInstance", ResourceId: instanceId }), sendOptions(options)),
  );
  return fromAwsTags(out.TagList);
}

/** Deregisters a managed instance; false when it was not registered (any more). */
export async function deregisterInstance(ssm: SSMClient, instanceId: string, options: CallOptions = {}): Promise<boolean> {
  try {
    await call({ action: "ssm:DeregisterManagedInstance", object: `managed instance ${instanceId}` }, () =>
      ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: instanceId }), sendOptions(options)),
    );
    return true;
  } catch (error) {
    if (failedWith(error, "InvalidInstanceId")) return false;
    throw error;
  }
}

// ---- the instance-id parameters -----------------------------------------------------------------

export interface InstanceParameter {
  name: string;
  instanceId: string;
  tags: Tags;
}

/**
 * Writes `instanceId` to the parameter `name`, tagged. AWS refuses Tags together with Overwrite, so
 * a new parameter is created with its tags and an existing one is overwritten and then tagged.
 */
export async function putInstanceParameter(ssm: SSMClient, parameter: InstanceParameter, options: CallOptions = {}): Promise<{ version: number }> {
  const context = { action: "ssm:PutParameter", object: `parameter ${parameter.name}` };
  const base = { Name: parameter.name, Value: parameter.instanceId, Type: "String" as const, Description: "Managed instance id (bastionless)" };
  try {
    const out = await call(context, () => ssm.send(new PutParameterCommand({ ...base, Tags: toAwsTags(parameter.tags) }), sendOptions(options)));
    return { version: out.Version ?? 1 };
  } catch (error) {
    if (!failedWith(error, "ParameterAlreadyExists")) throw error;
  }
  const out = await call(context, () => ssm.send(new PutParameterCommand({ ...base, Overwrite: true }), sendOptions(options)));
  await call({ action: "ssm:AddTagsToResource", object: `parameter ${parameter.name}` }, () =>
    ssm.send(new AddTagsToResourceCommand({ ResourceType: "Parameter", ResourceId: parameter.name, Tags: toAwsTags(parameter.tags) }), sendOptions(options)),
  );
  return { version: out.Version ?? 1 };
}

/** The value of a parameter, or undefined when there is none. */
export async function findInstanceParameter(ssm: SSMClient, name: string, options: CallOptions = {}): Promise<string | undefined> {
  try {
    const out = await call({ action: "ssm:GetParameter", object: `parameter ${name}` }, () =>
      ssm.send(new GetParameterCommand({ Name: name }), sendOptions(options)),
    );
    return out.Parameter?.Value;
  } catch (error) {
    if (failedWith(error, "ParameterNotFound")) return undefined;
    throw error;
  }
}

/** The managed instance id held by a parameter; throws naming the parameter when there is none. */
export async function getInstanceParameter(ssm: SSMClient, name: string, options: CallOptions = {}): Promise<string> {
  const value = await findInstanceParameter(ssm, name, options);
  if (value === undefined) {
    throw new Error(
      `Parameter ${name} does not exist: no container has registered under that name. Is the entrypoint running in the container, with BASTION_ENV set?`,
    );
  }
  return value;
}

export interface ParameterInfo {
  name: string;
  value: string;
  lastModifiedAt?: Date;
  version?: number;
}

/** Every parameter under `path` (recursive, all pages). */
export async function listInstanceParameters(ssm: SSMClient, path: string, options: CallOptions = {}): Promise<ParameterInfo[]> {
  const found: ParameterInfo[] = [];
  const pages = paginateGetParametersByPath({ client: ssm }, { Path: path, Recursive: true, MaxResults: 10 }, sendOptions(options));
  for await (const page of callPages({ action: "ssm:GetParametersByPath", object: `path ${path}` }, pages)) {
    for (const p of page.Parameters ?? []) {
      if (p.Name) found.push({ name: p.Name, value: p.Value ?? "", lastModifiedAt: p.LastModifiedDate, version: p.Version });
    }
  }
  return found;
}

/** The names of the parameters carrying tag `key` = `value` (DescribeParameters, every path). */
export async function listTaggedParameterNames(ssm: SSMClient, key: string, value: string, options: CallOptions = {}): Promise<string[]> {
  const names: string[] = [];
  const pages = paginateDescribeParameters(
    { client: ssm },
    { ParameterFilters: [{ Key: `tag:${key}`, Values: [value] }], MaxResults: 50 },
    sendOptions(options),
  );
  for await (const page of callPages({ action: "ssm:DescribeParameters", object: `parameters tagged ${key}=${value}` }, pages)) {
    for (const p of page.Parameters ?? []) if (p.Name) names.push(p.Name);
  }
  return names;
}

/** Deletes a parameter; false when it did not exist. */
export async function deleteParameter(ssm: SSMClient, name: string, options: CallOptions = {}): Promise<boolean> {
  try {
    await call({ action: "ssm:DeleteParameter", object: `parameter ${name}` }, () =>
      ssm.send(new DeleteParameterCommand({ Name: name }), sendOptions(options)),
    );
    return true;
  } catch (error) {
    if (failedWith(error, "ParameterNotFound")) return false;
    throw error;
  }
}

/** The tags of a parameter (the sweeper touches only parameters tagged bastionless:managed-by). */
export async function listParameterTags(ssm: SSMClient, name: string, options: CallOptions = {}): Promise<Tags> {
  const out = await call({ action: "ssm:ListTagsForResource", object: `parameter ${name}` }, () =>
    ssm.send(new ListTagsForResourceCommand({ ResourceType: "Parameter", ResourceId: name }), sendOptions(options)),
  );
  return fromAwsTags(out.TagList);
}

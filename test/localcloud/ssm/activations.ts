// SSM hybrid activations: CreateActivation, DescribeActivations, DeleteActivation.
import { randomUUID } from "node:crypto";
import { AwsError } from "../aws-errors.ts";
import { epochSeconds } from "../clock.ts";
import type { CloudContext, Handler } from "../context.ts";
import { newActivationCode } from "../ids.ts";
import type { Activation } from "../state.ts";
import { optionalInt, optionalString, page, parseTimestamp, requireString, validateTags } from "./validate.ts";

const DAY_MS = 24 * 3600 * 1000;
const NAME_PATTERN = /^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$/u;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isExpired(a: Activation, nowMs: number): boolean {
  return nowMs >= a.expirationMs;
}

export const createActivation: Handler = async (ctx, { region, body }) => {
  const iamRole = requireString("iamRole", body.IamRole, { max: 64 });
  const limit = optionalInt("registrationLimit", body.RegistrationLimit, 1, 1000) ?? 1;
  const now = ctx.clock.now();
  const expiration = parseTimestamp("expirationDate", body.ExpirationDate) ?? now + DAY_MS;
  // AWS: "up to 30 days in advance"; a date in the past is rejected the same way.
  if (expiration <= now || expiration > now + 30 * DAY_MS) {
    throw new AwsError("InvalidParameters", "ExpirationDate must be a time in the future and no more than 30 days from now.");
  }
  const activation: Activation = {
    id: randomUUID(),
    code: newActivationCode(),
    region,
    iamRole,
    description: optionalString("description", body.Description, { max: 256 }),
    defaultInstanceName: optionalString("defaultInstanceName", body.DefaultInstanceName, { max: 256, pattern: NAME_PATTERN }),
    registrationLimit: limit,
    registrationsCount: 0,
    expirationMs: expiration,
    createdMs: now,
    tags: validateTags("tags", body.Tags, 1000),
  };
  ctx.state.activations.set(activation.id, activation);
  ctx.secrets.record("activation-code", activation.code, "ssm:CreateActivation");
  return { ActivationId: activation.id, ActivationCode: activation.code };
};

function toWire(a: Activation, nowMs: number) {
  return {
    ActivationId: a.id,
    Description: a.description,
    DefaultInstanceName: a.defaultInstanceName,
    IamRole: a.iamRole,
    RegistrationLimit: a.registrationLimit,
    RegistrationsCount: a.registrationsCount,
    ExpirationDate: epochSeconds(a.expirationMs),
    Expired: isExpired(a, nowMs),
    CreatedDate: epochSeconds(a.createdMs),
    Tags: a.tags.length ? a.tags : undefined,
  };
}

const ACTIVATION_FILTER_KEYS = ["ActivationIds", "DefaultInstanceName", "IamRole"] as const;

export const describeActivations: Handler = async (ctx, { region, body }) => {
  const maxResults = optionalInt("maxResults", body.MaxResults, 1, 50) ?? 50;
  let list = [...ctx.state.activations.values()].filter((a) => a.region === region);
  for (const f of body.Filters ?? []) {
    if (!ACTIVATION_FILTER_KEYS.includes(f.FilterKey)) {
      throw new AwsError("InvalidFilter", `The filter key ${f.FilterKey} is not valid. Valid keys: ${ACTIVATION_FILTER_KEYS.join(", ")}.`);
    }
    const values: string[] = f.FilterValues ?? [];
    const fields: Record<string, (a: Activation) => string> = { ActivationIds: (a) => a.id, IamRole: (a) => a.iamRole };
    const field = fields[f.FilterKey] ?? ((a: Activation) => a.defaultInstanceName ?? "");
    list = list.filter((a) => values.includes(field(a)));
  }
  list.sort((x, y) => x.createdMs - y.createdMs);
  const now = ctx.clock.now();
  const p = page("DescribeActivations", list, maxResults, body.NextToken);
  return { ActivationList: p.items.map((a) => toWire(a, now)), NextToken: p.nextToken };
};

export function findActivationForDelete(ctx: CloudContext, region: string, id: unknown): Activation {
  const activationId = requireString("activationId", id);
  if (!UUID.test(activationId))
    throw new AwsError("InvalidActivationId", "The activation ID is not valid. Verify that the activation ID is correct and try again.");
  const a = ctx.state.activations.get(activationId);
  if (!a || a.region !== region)
    throw new AwsError(
      "InvalidActivation",
      "The activation is not valid. The activation might have been deleted, or the ActivationId and the ActivationCode do not match.",
    );
  return a;
}

export const deleteActivation: Handler = async (ctx, { region, body }) => {
  const a = findActivationForDelete(ctx, region, body.ActivationId);
  // Existing managed instances stay registered (AWS: they must be deregistered separately).
  ctx.state.activations.delete(a.id);
  return {};
};

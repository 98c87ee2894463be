// Input validation with the messages AWS's front end gives (Smithy constraint wording).
import { AwsError, validationError } from "../aws-errors.ts";

export function requireString(field: string, value: unknown, opts: { min?: number; max?: number; pattern?: RegExp; code?: string } = {}): string {
  if (typeof value !== "string") {
    throw new AwsError(
      opts.code ?? "ValidationException",
      `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return checkString(field, value, opts);
}

export function optionalString(field: string, value: unknown, opts: { min?: number; max?: number; pattern?: RegExp } = {}): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw validationError(field, value, "Member must be a string");
  return checkString(field, value, opts);
}

function checkString(field: string, value: string, opts: { min?: number; max?: number; pattern?: RegExp }): string {
  if (opts.min !== undefined && value.length < opts.min) throw validationError(field, value, `Member must have length greater than or equal to ${opts.min}`);
  if (opts.max !== undefined && value.length > opts.max) throw validationError(field, value, `Member must have length less than or equal to ${opts.max}`);
  if (opts.pattern && !opts.pattern.test(value)) throw validationError(field, value, `Member must satisfy regular expression pattern: ${opts.pattern.source}`);
  return value;
}

export function optionalInt(field: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) throw validationError(field, value, "Member must be an integer");
  if (value < min) throw validationError(field, value, `Member must have value greater than or equal to ${min}`);
  if (value > max) throw validationError(field, value, `Member must have value less than or equal to ${max}`);
  return value;
}

/** Opaque paging token: base64 of the offset, bound to the operation so tokens are not interchangeable. */
export function encodeNextToken(operation: string, offset: number): string {
  return Buffer.from(JSON.stringify({ o: operation, i: offset })).toString("base64");
}

export function decodeNextToken(operation: string, token: unknown, code = "InvalidNextToken"): number {
  if (token === undefined || token === null) return 0;
  try {
    const parsed = JSON.parse(Buffer.from(String(token), "base64").toString());
    if (parsed.o === operation && Number.isInteger(parsed.i) && parsed.i >= 0) return parsed.i;
  } catch {
    /* fall through */
  }
  throw new AwsError(code, "The specified token isn't valid.");
}

/** One page of `items` from NextToken, and the token for the next page. */
export function page<T>(operation: string, items: T[], maxResults: number, token: unknown): { items: T[]; nextToken?: string } {
  const start = decodeNextToken(operation, token);
  const end = start + maxResults;
  return { items: items.slice(start, end), nextToken: end < items.length ? encodeNextToken(operation, end) : undefined };
}

/** SDK v3 sends timestamps as epoch seconds; CLI v1 also sends epoch seconds for JSON 1.1. */
export function parseTimestamp(field: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") return value * 1000;
  if (typeof value === "string") {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  }
  throw validationError(field, value, "Member must be a timestamp");
}

export function validateTags(field: string, tags: unknown, max: number): { Key: string; Value: string }[] {
  if (tags === undefined || tags === null) return [];
  if (!Array.isArray(tags)) throw validationError(field, tags, "Member must be a list");
  if (tags.length > max) throw validationError(field, `[${tags.length} tags]`, `Member must have length less than or equal to ${max}`);
  return tags.map((t, i) => ({
    Key: requireString(`${field}.${i + 1}.member.key`, t?.Key, { min: 1, max: 128, pattern: /^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$/u }),
    Value: requireString(`${field}.${i + 1}.member.value`, t?.Value ?? "", { min: 0, max: 256, pattern: /^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$/u }),
  }));
}

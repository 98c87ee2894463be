// Tags as the programs hold them, a plain record, and as AWS lists them: { Key, Value } (SSM, RDS)
// or { key, value } (ECS).
import type { Tags } from "../constants.ts";

type AwsTag = { Key?: string; Value?: string; key?: undefined; value?: undefined } | { key?: string; value?: string; Key?: undefined; Value?: undefined };

/** A tag list in either spelling as a record; a missing key or value reads as "". */
export function fromAwsTags(list: readonly AwsTag[] | undefined): Tags {
  return Object.fromEntries((list ?? []).map((t) => [t.Key ?? t.key ?? "", t.Value ?? t.value ?? ""]));
}

/** A record as the { Key, Value } list SSM takes. */
export function toAwsTags(tags: Tags): Array<{ Key: string; Value: string }> {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

// Names shared by every program: the tags, the parameter path and the labels that say what is ours.

export const TAG_MANAGED_BY = "bastionless:managed-by";
export const TAG_ENV = "bastionless:env";
export const TAG_SOURCE = "bastionless:source";
/** On an instance parameter: the aws:userid of the container that wrote it, the only one docker/iam/ lets rewrite or delete it. */
export const TAG_WRITER_ID = "bastionless:writer-id";
export const TAG_CREATED_AT = "bastionless:created-at";
/** On bastion tasks: the caller's AWS identity (STS ARN) that launched it, and the local user; --reuse matches both. */
export const TAG_OWNER = "bastionless:owner";
export const TAG_LOCAL_USER = "bastionless:local-user";
export const MANAGED_BY_VALUE = "bastionless";

/** `startedBy` of bastion tasks launched by portforward: `bastionless:<user>`. */
export const STARTED_BY_PREFIX = "bastionless:";

export const CONFIG_FILE = "bastionless.config.json";

/** portforward --sessions: at most this many sessions per forward (each an audit-trail entry and a WebSocket). */
export const MAX_SESSIONS = 16;

export const DOC_PORT_FORWARD_REMOTE = "AWS-StartPortForwardingSessionToRemoteHost";
export const DOC_PORT_FORWARD = "AWS-StartPortForwardingSession";

export const MANAGED_INSTANCE_ID = /^mi-[0-9a-f]{17}$/;

/** `/<env>/portforward/instances/` — the folder of per-source parameters. */
export function parameterPrefix(env: string): string {
  return `/${env}/portforward/instances/`;
}

/** `/<env>/portforward/instances/<source id>`; the source id is sanitised to Parameter Store's alphabet. */
export function parameterName(env: string, sourceId: string): string {
  return parameterPrefix(env) + sourceId.replace(/[^a-zA-Z0-9_.-]/g, "_");
}

export function startedBy(user: string): string {
  // ECS caps startedBy at 128 characters; the user part keeps to letters, digits, "-" and "_".
  return (STARTED_BY_PREFIX + user.replace(/[^a-zA-Z0-9_-]/g, "-")).slice(0, 128);
}

export type Tags = Record<string, string>;

export function ourTags(env: string, source: string, now: Date = new Date()): Tags {
  return {
    [TAG_MANAGED_BY]: MANAGED_BY_VALUE,
    [TAG_ENV]: env,
    [TAG_SOURCE]: source,
    [TAG_CREATED_AT]: now.toISOString(),
  };
}

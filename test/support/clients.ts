// AWS SDK clients pointed at a local cloud, as the account's root. The programs under test run as
// their own principals (cloud.principalEnv); these are for a test's own setup and checks.
import { ECSClient } from "@aws-sdk/client-ecs";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { LocalCloud } from "../localcloud/index.ts";

/**
 * The account's root, whom the local cloud does not evaluate. Passing it to a program is an explicit
 * opt-out of the program's own principal: give the reason where it is passed.
 */
export const ROOT_KEY = { AWS_ACCESS_KEY_ID: "localcloud", AWS_SECRET_ACCESS_KEY: "localcloud" } as const;

/**
 * SDK client config for `cloud` as its root, with one attempt (a test sees the cloud's first answer);
 * `extra` overrides any of it (maxAttempts where a call may meet injected faults, other credentials).
 */
export function cloudConfig(cloud: LocalCloud, extra: Record<string, unknown> = {}) {
  return {
    endpoint: cloud.endpoint,
    region: cloud.region,
    credentials: { accessKeyId: ROOT_KEY.AWS_ACCESS_KEY_ID, secretAccessKey: ROOT_KEY.AWS_SECRET_ACCESS_KEY },
    maxAttempts: 1,
    ...extra,
  };
}

/** SSM and ECS clients for `cloud` as its root, patient (8 attempts) for seeding worlds of hundreds. */
export function cloudClients(cloud: LocalCloud) {
  const config = cloudConfig(cloud, { maxAttempts: 8 });
  return { ssm: new SSMClient(config), ecs: new ECSClient(config) };
}

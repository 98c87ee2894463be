// What the gateway learns from IAM and STS answers it relays from moto: the sessions sts:AssumeRole
// issued (whose keys then identify an assumed-role caller), and that IAM's state changed (so the
// policies of every principal are read afresh).
import type { MotoReply } from "../context.ts";
import type { Principals } from "./principals.ts";

const READ_ONLY = /^(Get|List|Simulate|Generate|Describe)/;

export function afterIamReply(principals: Principals, service: string, operation: string, reply: MotoReply): void {
  if (reply.status >= 400) return;
  if (service === "iam" && !READ_ONLY.test(operation)) principals.iamChanged();
  if (service === "sts" && operation === "AssumeRole") {
    const text = reply.body.toString("utf8");
    const field = (name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(text)?.[1];
    const [key, token, arn, id, expiration] = [field("AccessKeyId"), field("SessionToken"), field("Arn"), field("AssumedRoleId"), field("Expiration")];
    if (key && token && arn && id && expiration) principals.recordSession(key, token, arn, id, new Date(expiration));
  }
}

// SigV4 signing of the data channel's WebSocket upgrade, as session-manager-plugin ≥ 1.2.688.0 does
// (src/communicator/websocketchannel.go on mainline): service "ssmmessages", skipped when the
// StreamUrl is already presigned.
import { Hash } from "@smithy/core/serde";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity } from "@smithy/types";

export function isPresigned(streamUrl: string): boolean {
  return [...new URL(streamUrl).searchParams.keys()].some((k) => k.toLowerCase().startsWith("x-amz-"));
}

/** The headers to add to the upgrade GET of `streamUrl`; none when it is presigned. */
export async function signUpgradeHeaders(
  streamUrl: string,
  region: string,
  credentials: AwsCredentialIdentity,
  now = new Date(),
): Promise<Record<string, string>> {
  if (isPresigned(streamUrl)) return {};
  const url = new URL(streamUrl);
  const signer = new SignatureV4({ service: "ssmmessages", region, credentials, sha256: Hash.bind(null, "sha256") });
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signed = await signer.sign(
    {
      method: "GET",
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query,
      headers: { host: url.host },
    },
    { signingDate: now },
  );
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) if (k !== "host") headers[k] = String(v);
  return headers;
}

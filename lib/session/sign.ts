// SigV4 signing of the data channel's WebSocket upgrade, as session-manager-plugin ≥ 1.2.688.0 does
// (src/communicator/websocketchannel.go on mainline): service "ssmmessages", skipped when the
// StreamUrl is already presigned.
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, SourceData } from "@smithy/types";

/** The Checksum the signer wants, from node:crypto (hash, or HMAC when given a secret). */
class NodeSha256 {
  private hash: Hash | Hmac;
  private readonly secret: Buffer | undefined;
  constructor(secret?: SourceData) {
    this.secret = secret === undefined ? undefined : toBuffer(secret);
    this.hash = this.make();
  }
  private make(): Hash | Hmac {
    return this.secret === undefined ? createHash("sha256") : createHmac("sha256", this.secret);
  }
  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {
    this.hash = this.make();
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

export function isPresigned(streamUrl: string): boolean {
  return [...new URL(streamUrl).searchParams.keys()].some((k) => k.toLowerCase().startsWith("x-amz-"));
}

/** The headers to add to the upgrade GET of `streamUrl`; none when it is presigned. */
export async function signUpgradeHeaders(streamUrl: string, region: string, credentials: AwsCredentialIdentity, now = new Date()): Promise<Record<string, string>> {
  if (isPresigned(streamUrl)) return {};
  const url = new URL(streamUrl);
  const signer = new SignatureV4({ service: "ssmmessages", region, credentials, sha256: NodeSha256 });
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

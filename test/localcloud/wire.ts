// Which service and operation an incoming AWS request is, on either wire protocol.
import type { IncomingMessage } from "node:http";

export interface ParsedCall {
  protocol: "json" | "query" | "other";
  service: string;
  operation: string;
  region?: string;
  /** JSON body (json) or form fields (query). */
  body: any;
}

const TARGET_PREFIXES: Record<string, string> = {
  AmazonSSM: "ssm",
  AmazonEC2ContainerServiceV20141113: "ecs",
  TrentService: "kms",
  secretsmanager: "secretsmanager",
  Logs_20140328: "logs",
};

/** The credential scope "<key>/<date>/<region>/<service>/aws4_request" of a SigV4 Authorization header. */
export function credentialScope(req: IncomingMessage): { region?: string; service?: string } {
  const m = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(String(req.headers.authorization ?? ""));
  return m ? { region: m[1], service: m[2] } : {};
}

export function parseCall(req: IncomingMessage, raw: Buffer): ParsedCall {
  const scope = credentialScope(req);
  const target = req.headers["x-amz-target"];
  if (typeof target === "string" && target.includes(".")) {
    const [prefix, operation] = target.split(".", 2);
    let body: any = {};
    try {
      body = raw.length ? JSON.parse(raw.toString("utf8")) : {};
    } catch {
      body = {};
    }
    return { protocol: "json", service: TARGET_PREFIXES[prefix] ?? scope.service ?? prefix.toLowerCase(), operation, region: scope.region, body };
  }
  const type = String(req.headers["content-type"] ?? "");
  if (req.method === "POST" && type.startsWith("application/x-www-form-urlencoded")) {
    const form = Object.fromEntries(new URLSearchParams(raw.toString("utf8")));
    if (form.Action) return { protocol: "query", service: scope.service ?? "unknown", operation: form.Action, region: scope.region, body: form };
  }
  return { protocol: "other", service: scope.service ?? "unknown", operation: "", region: scope.region, body: undefined };
}

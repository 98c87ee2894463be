// AWS error shapes on the two wire protocols the gateway speaks, so SDK v3 and CLI v1 map them
// to the same exception names they would get from AWS.
import type { ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";

export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Smithy's validation message: "1 validation error detected: Value 'x' at 'maxResults' failed to satisfy constraint: …". */
export function validationError(field: string, value: unknown, constraint: string): AwsError {
  return new AwsError("ValidationException", `1 validation error detected: Value '${String(value)}' at '${field}' failed to satisfy constraint: ${constraint}`);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body ?? {});
  res.writeHead(status, {
    "content-type": "application/x-amz-json-1.1",
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
  });
  res.end(text);
}

export function sendJsonError(res: ServerResponse, err: AwsError): void {
  // JSON 1.1: the SDK reads the code from x-amzn-errortype or __type, CLI v1 from __type.
  const text = JSON.stringify({ __type: err.code, message: err.message, ...err.extra });
  res.writeHead(err.status, {
    "content-type": "application/x-amz-json-1.1",
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
    "x-amzn-errortype": err.code,
  });
  res.end(text);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&${{ "<": "lt", ">": "gt", "&": "amp", "'": "apos", '"': "quot" }[c]};`);
}

/** Query protocol (RDS, EC2, IAM, STS): the ErrorResponse document. */
export function sendQueryError(res: ServerResponse, err: AwsError): void {
  const type = err.status >= 500 ? "Receiver" : "Sender";
  const text =
    `<ErrorResponse><Error><Type>${type}</Type><Code>${escapeXml(err.code)}</Code>` +
    `<Message>${escapeXml(err.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
  res.writeHead(err.status, { "content-type": "text/xml", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** REST-XML (S3): the Error document; a HEAD answer has no body. */
export function sendRestError(res: ServerResponse, err: AwsError, method?: string): void {
  const text =
    method === "HEAD"
      ? ""
      : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(err.code)}</Code><Message>${escapeXml(err.message)}</Message><RequestId>${randomUUID()}</RequestId></Error>`;
  res.writeHead(err.status, { "content-type": "application/xml", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

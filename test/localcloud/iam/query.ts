// The query protocol's (IAM, STS) request lists and XML answers, for the operations the gateway answers itself.
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";

/** `Name.member.1`, `Name.member.2`, … of a query form, in order. */
export function memberList(form: Record<string, string>, name: string): string[] {
  const out: string[] = [];
  for (let i = 1; form[`${name}.member.${i}`] !== undefined; i++) out.push(form[`${name}.member.${i}`]);
  return out;
}

/** `Name.member.N.Field…` structures of a query form, each as its own form with the prefix removed. */
export function memberStructs(form: Record<string, string>, name: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (let i = 1; ; i++) {
    const prefix = `${name}.member.${i}.`;
    const entries = Object.entries(form).filter(([k]) => k.startsWith(prefix));
    if (!entries.length) return out;
    out.push(Object.fromEntries(entries.map(([k, v]) => [k.slice(prefix.length), v])));
  }
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&${{ "<": "lt", ">": "gt", "&": "amp", "'": "apos", '"': "quot" }[c]};`);
}

export type Xml = string | number | boolean | undefined | Xml[] | { [k: string]: Xml };

/** An element's content: objects are child elements, arrays are `<member>` lists, undefined is left out. */
export function toXml(value: Xml): string {
  if (value === undefined) return "";
  if (Array.isArray(value)) return value.map((v) => `<member>${toXml(v)}</member>`).join("");
  if (typeof value === "object") {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `<${k}>${toXml(v)}</${k}>`)
      .join("");
  }
  return escapeXml(String(value));
}

/** `<OpResponse xmlns=…><OpResult>…</OpResult><ResponseMetadata>…` as IAM answers. */
export function sendQueryResult(res: ServerResponse, operation: string, namespace: string, result: Record<string, Xml>): void {
  const text =
    `<${operation}Response xmlns="${namespace}"><${operation}Result>${toXml(result)}</${operation}Result>` +
    `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${operation}Response>`;
  res.writeHead(200, { "content-type": "text/xml", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

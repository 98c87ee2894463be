// Relays a request to moto untouched and hands back moto's answer.
import { request, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { MotoReply } from "./context.ts";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length", "expect"]);

export function forwardToMoto(motoUrl: string, method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<MotoReply> {
  const url = new URL(path, motoUrl);
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  out["content-length"] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: out }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const h: Record<string, string> = {};
        // moto's Date is real time; the gateway stamps the simulated clock's instead.
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && k !== "date") h[k] = String(v);
        resolve({ status: res.statusCode ?? 502, headers: h, body: Buffer.concat(chunks) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

export function sendReply(res: ServerResponse, reply: MotoReply): void {
  res.writeHead(reply.status, { ...reply.headers, "content-length": reply.body.length });
  res.end(reply.body);
}

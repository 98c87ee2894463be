// The single endpoint clients use: admin API, ECS metadata, the data channel's WebSocket upgrades,
// our own operations, and a transparent relay to moto for everything else.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { handleAdmin, type AdminHooks } from "./admin.ts";
import { AwsError, sendJson, sendJsonError, sendQueryError, sendRestError } from "./aws-errors.ts";
import { readCredentials, readMetadata } from "./containers/metadata.ts";
import { MotoReplyError, type Call, type CloudContext } from "./context.ts";
import { afterQuery } from "./ec2-hooks.ts";
import { forwardToMoto, sendReply } from "./forward.ts";
import { authorize } from "./iam/authorize.ts";
import type { Caller } from "./iam/principals.ts";
import { afterIamReply } from "./iam/relayed.ts";
import { s3Operation } from "./iam/requests.ts";
import { sendQueryResult } from "./iam/query.ts";
import { HANDLERS, QUERY_HANDLERS } from "./routes.ts";
import { recordRelayedSecrets } from "./secrets.ts";
import { parseCall, type ParsedCall } from "./wire.ts";

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function sendError(res: ServerResponse, parsed: ParsedCall, err: unknown, method?: string): void {
  if (res.headersSent) return void res.destroy();
  if (err instanceof MotoReplyError) return sendReply(res, err.reply);
  const aws = err instanceof AwsError ? err : new AwsError("InternalServerError", `localcloud gateway: ${(err as Error)?.message ?? err}`, 500);
  if (!(err instanceof AwsError)) console.error("[localcloud] unexpected error", err);
  if (parsed.protocol === "query") return sendQueryError(res, aws);
  if (parsed.protocol === "other") return sendRestError(res, aws, method);
  sendJsonError(res, aws);
}

async function handleAws(ctx: CloudContext, req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
  const parsed = parseCall(req, raw);
  const forward = (body?: Buffer) => forwardToMoto(ctx.moto.url, req.method ?? "POST", req.url ?? "/", req.headers, body ?? raw);
  const region = parsed.region ?? ctx.options.defaultRegion;
  try {
    const path = (req.url ?? "/").split("?")[0];
    const operation = parsed.protocol === "other" ? (s3Operation(req.method ?? "GET", path) ?? "") : parsed.operation;
    const served = { service: parsed.service, operation, region, body: parsed.body, method: req.method, path };
    const caller = await authorize(ctx, req, served, parsed.protocol === "other" ? "rest" : parsed.protocol);
    if (parsed.protocol === "other") return sendReply(res, await forward());
    await ctx.faults.apply(parsed.service, parsed.operation);
    const query = parsed.protocol === "query" ? QUERY_HANDLERS[parsed.service]?.[parsed.operation] : undefined;
    if (query) return sendQueryResult(res, parsed.operation, query.namespace, await query.handler(ctx, parsed.body));
    const handler = parsed.protocol === "json" ? HANDLERS[parsed.service]?.[parsed.operation] : undefined;
    if (!handler) {
      const reply = await forward();
      recordRelayedSecrets(ctx.secrets, parsed.service, parsed.operation, reply.status, reply.body);
      afterIamReply(ctx.principals, parsed.service, parsed.operation, reply);
      await afterQuery(ctx, parsed.service, parsed.operation, region, reply);
      return sendReply(res, reply);
    }
    const call: Call = {
      region,
      service: parsed.service,
      operation: parsed.operation,
      body: parsed.body,
      headers: req.headers,
      async forwardJson(body?: unknown) {
        const reply = await forward(body === undefined ? raw : Buffer.from(JSON.stringify(body)));
        if (reply.status >= 400) throw new MotoReplyError(reply);
        return reply.body.length ? JSON.parse(reply.body.toString("utf8")) : {};
      },
    };
    const result = await handler(ctx, call);
    recordSessionOwner(ctx, result, caller);
    sendJson(res, 200, result);
  } catch (err) {
    sendError(res, parsed, err, req.method);
  }
}

/** AWS tags each Session Manager session with its starter's aws:userid: ResumeSession and TerminateSession are judged by it. */
function recordSessionOwner(ctx: CloudContext, result: any, caller: Caller | undefined): void {
  const sessionId: unknown = result?.SessionId ?? result?.session?.sessionId;
  if (caller && typeof sessionId === "string" && (result?.TokenValue || result?.session?.tokenValue))
    ctx.principals.recordSessionOwner(sessionId, caller.userId);
}

export function createGatewayServer(getCtx: () => CloudContext, hooks: AdminHooks): Server {
  const server = createServer(async (req, res) => {
    try {
      const raw = await readBody(req);
      const ctx = getCtx();
      // Like AWS, every answer carries the (simulated) server time: the SDK corrects clock skew from it.
      res.setHeader("date", new Date(ctx.clock.now()).toUTCString());
      const path = (req.url ?? "/").split("?")[0];
      if (path.startsWith("/_localcloud/")) return await handleAdmin(ctx, hooks, req, res, raw);
      if (req.method === "GET" && path.startsWith("/v4/")) {
        const body = readMetadata(ctx, path);
        res.writeHead(body ? 200 : 404, { "content-type": "application/json" });
        return void res.end(JSON.stringify(body ?? { message: "not found" }));
      }
      if (req.method === "GET" && path.startsWith("/v2/credentials/")) {
        const body = await readCredentials(ctx, path);
        res.writeHead(body ? 200 : 404, { "content-type": "application/json" });
        return void res.end(JSON.stringify(body ?? { message: "not found" }));
      }
      // A call's effects can land after its caller is gone (a killed program): tests wait for 0.
      ctx.inFlight.calls++;
      ctx.inFlight.lastMs = Date.now();
      try {
        await handleAws(ctx, req, res, raw);
      } finally {
        ctx.inFlight.calls--;
        ctx.inFlight.lastMs = Date.now();
      }
    } catch (err) {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`localcloud gateway: ${(err as Error).message}`);
    }
  });
  server.on("upgrade", (req, socket, head) => {
    if ((req.url ?? "").startsWith("/v1/data-channel/")) return getCtx().dataPlane.handleUpgrade(req, socket, head);
    socket.destroy();
  });
  return server;
}

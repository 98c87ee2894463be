// The admin API under /_localcloud/: state, faults, reset, clock, logs, and the fake agent's heartbeat.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CloudContext } from "./context.ts";
import { validateFaultSpec } from "./faults.ts";
import { readInventory } from "./inventory.ts";
import { recordHeartbeat } from "./ssm/instances.ts";

export interface AdminHooks {
  /** Back to the starting world: every record, process and moto resource goes. */
  reset(): Promise<void>;
  applyFaults(spec: unknown): void;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function parse(raw: Buffer): any {
  return raw.length ? JSON.parse(raw.toString("utf8")) : {};
}

export async function handleAdmin(ctx: CloudContext, hooks: AdminHooks, req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const route = `${req.method} ${url.pathname.replace(/^\/_localcloud/, "")}`;
  try {
    switch (route) {
      case "GET /state":
        return send(res, 200, await readInventory(ctx, url.searchParams.get("region") ?? ctx.options.defaultRegion));
      case "GET /faults":
        return send(res, 200, ctx.faults.spec());
      case "GET /inflight":
        return send(res, 200, { calls: ctx.inFlight.calls, idleMs: ctx.inFlight.calls ? 0 : Date.now() - ctx.inFlight.lastMs });
      case "GET /denials":
        return send(res, 200, ctx.principals.denials);
      case "GET /faults/injected":
        return send(res, 200, { controlPlane: ctx.faults.injected(), dataChannel: ctx.dataPlane.injected?.() });
      case "POST /faults":
        hooks.applyFaults(validateFaultSpec(parse(raw)));
        return send(res, 200, ctx.faults.spec());
      case "POST /reset":
        await hooks.reset();
        return send(res, 200, { ok: true });
      case "GET /clock":
        return send(res, 200, { now: new Date(ctx.clock.now()).toISOString() });
      case "POST /clock": {
        const { advanceMs } = parse(raw);
        ctx.clock.advance(Number(advanceMs));
        ctx.tick();
        return send(res, 200, { now: new Date(ctx.clock.now()).toISOString() });
      }
      case "POST /agent/heartbeat": {
        const b = parse(raw);
        const answer = await recordHeartbeat(ctx, String(b.instanceId), { pid: b.pid, cwd: b.cwd, env: b.env ?? {}, hostname: b.hostname });
        if (answer.kind === "unknown") return send(res, 404, { __type: "InvalidInstanceId", message: `Instance ${b.instanceId} is not registered.` });
        if (answer.kind === "refused") return send(res, 400, { __type: "AccessDeniedException", message: answer.message });
        // The agent pings often enough that one missed beat never flips it to ConnectionLost.
        return send(res, 200, { intervalMs: Math.max(50, Math.min(1000, Math.floor(ctx.options.connectionLostAfterMs / 4))) });
      }
    }
    const logs = /^GET \/logs\/([0-9a-f-]{32,36})$/.exec(route);
    if (logs) {
      const task = [...ctx.state.tasks.values()].find((t) => t.id === logs[1]);
      if (!task) return send(res, 404, { message: "no such task" });
      return send(res, 200, Object.fromEntries(task.containers.map((c) => [c.name, c.output])));
    }
    send(res, 404, { message: `unknown admin route ${route}` });
  } catch (err) {
    send(res, 400, { message: (err as Error).message });
  }
}

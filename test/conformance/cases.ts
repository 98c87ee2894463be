// The session scripts: the same for every pair of client and agent. Each opens its own forward,
// does what a user does through it, checks the bytes by sha256, and says in words what it saw; the
// pass criterion is what AWS's own agent does (its source, named in each case).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { terminateSession } from "../../lib/aws/sessions.ts";
import type { FaultSpec } from "../localcloud/index.ts";
import { openForward, type OpenForward } from "./clients.ts";
import { discardedSoFar, liveSession, USER_PAUSE_MS, type Case, type CaseContext } from "./context.ts";
import { shellCase } from "./shell-cases.ts";
import { download, sha256Of, upload } from "./target.ts";

export type { CaseContext } from "./context.ts";

const MB = 1e6;
const MiB = 1024 * 1024;

async function withForward<T>(
  ctx: CaseContext,
  forward: { host?: string; remotePort: number },
  run: (fwd: OpenForward) => Promise<T>,
  pauseMs = USER_PAUSE_MS,
): Promise<T> {
  const fwd = await openForward(ctx, forward);
  try {
    await new Promise((r) => setTimeout(r, pauseMs));
    return await run(fwd);
  } finally {
    await fwd.stop();
  }
}

async function psql(ctx: CaseContext, port: number, sql: string): Promise<string> {
  const pg = ctx.cloud.postgres!;
  const { stdout } = await promisify(execFile)(
    "psql",
    ["-h", "127.0.0.1", "-p", String(port), "-U", pg.user, "-d", pg.database, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
    {
      env: { ...process.env, PGCONNECT_TIMEOUT: "20" },
      timeout: 120_000,
      maxBuffer: 16 * MiB,
    },
  );
  return createHash("sha256").update(stdout).digest("hex");
}

const remoteHost: Case = {
  name: "remote host: PostgreSQL, 8 parallel queries",
  async run(ctx) {
    // About 660 KB per result: every query crosses many data-channel messages.
    const sql = "SELECT string_agg(md5(i::text), ',') FROM generate_series(1, 20000) AS i";
    const direct = await psql(ctx, ctx.cloud.postgres!.port, sql);
    return withForward(ctx, { host: ctx.dbHost, remotePort: 5432 }, async (fwd) => {
      const results = await Promise.all(Array.from({ length: 8 }, () => psql(ctx, fwd.port, sql).catch((e: Error) => `error ${e.message.split("\n")[0]}`)));
      const same = results.filter((r) => r === direct).length;
      const mode = (await liveSession(ctx))?.dataPlane?.mode ?? "unknown";
      return { outcome: same === 8 ? "pass" : "fail", observed: `${same}/8 results identical to the database's own, ${mode} mode` };
    });
  },
};

const portOnTarget: Case = {
  name: "port on the target itself",
  async run(ctx) {
    const n = 256 * 1024;
    return withForward(ctx, { remotePort: ctx.servicePort }, async (fwd) => {
      const down = await download(fwd.port, "on-target", n, 60_000);
      const up = await upload(fwd.port, "on-target-up", n, 60_000);
      const ok = down.sha === sha256Of("on-target", n) && up.answer === `${sha256Of("on-target-up", n)} ${n}`;
      const mode = (await liveSession(ctx))?.dataPlane?.mode ?? "unknown";
      return {
        outcome: ok ? "pass" : "fail",
        observed: `${ok ? "256 KiB each way intact" : `bytes differ (down ${down.bytes} B, up answer ${JSON.stringify(up.answer)})`}, ${mode} mode`,
      };
    });
  },
};

const parallel: Case = {
  name: "8 parallel connections, sha256 each way",
  async run(ctx) {
    const n = ctx.mib * MiB;
    const timeoutMs = Math.max(120_000, ((8 * n) / (0.2 * MB)) * 1000);
    return withForward(ctx, { remotePort: ctx.servicePort }, async (fwd) => {
      let started = Date.now();
      const downs = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => download(fwd.port, `par-${i}`, n, timeoutMs)));
      const downMs = Date.now() - started;
      started = Date.now();
      const ups = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => upload(fwd.port, `par-up-${i}`, n, timeoutMs)));
      const upMs = Date.now() - started;
      const downOk = downs.filter((d, i) => d.status === "fulfilled" && d.value.sha === sha256Of(`par-${i}`, n)).length;
      const upOk = ups.filter((u, i) => u.status === "fulfilled" && u.value.answer === `${sha256Of(`par-up-${i}`, n)} ${n}`).length;
      const failed = [...downs, ...ups].find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
      return {
        outcome: downOk === 8 && upOk === 8 ? "pass" : "fail",
        observed: `8 × ${ctx.mib} MiB: ${downOk}/8 downloads and ${upOk}/8 uploads intact${failed ? ` (${(failed.reason as Error).message})` : ""}`,
        downMBps: downOk === 8 ? (8 * n) / MB / (downMs / 1000) : undefined,
        upMBps: upOk === 8 ? (8 * n) / MB / (upMs / 1000) : undefined,
      };
    });
  },
};

const basic: Case = {
  // An agent without mux (3.0.196.0 and older): both sides fall back to one connection at a time,
  // the client sending DisconnectToPort when its local connection ends and the agent re-dialling.
  name: "basic mode (agent 3.0.196.0): two connections in turn",
  async run(ctx) {
    const n = 128 * 1024;
    const before = (await (await fetch(`${ctx.cloud.endpoint}/_localcloud/faults`)).json()) as FaultSpec;
    await ctx.cloud.setFaults({ ...before, dataChannel: { ...(before.dataChannel ?? {}), agentVersions: { [ctx.target]: "3.0.196.0" } } });
    try {
      return await withForward(ctx, { remotePort: ctx.servicePort }, async (fwd) => {
        const first = await download(fwd.port, "basic-1", n, 30_000).then(
          (r) => r.sha === sha256Of("basic-1", n),
          () => false,
        );
        const second = await upload(fwd.port, "basic-2", n, 30_000).then(
          (r) => r.answer === `${sha256Of("basic-2", n)} ${n}`,
          () => false,
        );
        const mode = (await liveSession(ctx))?.dataPlane?.mode ?? "unknown";
        return {
          outcome: first && second && mode === "basic" ? "pass" : "fail",
          observed: `${mode} mode; first connection ${first ? "intact" : "failed"}, second ${second ? "intact" : "failed"}`,
        };
      });
    } finally {
      await ctx.cloud.setFaults(before);
    }
  },
};

const atOnce: Case = {
  // A script that connects the moment the port is open. The agent acks and throws away input that
  // comes before it marks its handshake complete, just after sending HandshakeComplete (agent
  // datachannel.go processStreamDataMessage).
  name: "first connection at once when the port opens",
  async run(ctx) {
    const n = 64 * 1024;
    const before = await discardedSoFar(ctx);
    return withForward(
      ctx,
      { remotePort: ctx.servicePort },
      async (fwd) => {
        const down = await download(fwd.port, "at-once", n, 15_000).then(
          (r) => (r.sha === sha256Of("at-once", n) ? "intact" : `corrupt (${r.bytes} B)`),
          (e: Error) => `lost (${e.message})`,
        );
        const discarded = (await discardedSoFar(ctx)) - before;
        return {
          outcome: down === "intact" ? "pass" : "fail",
          observed: `64 KiB download ${down}${discarded ? `; the emulated agent discarded ${discarded} input messages as early` : ""}`,
        };
      },
      0,
    );
  },
};

const halfClose: Case = {
  // The agent closes the target connection fully when the client's stream ends (port_mux.go
  // handleDataTransfer), so a reply the target sends after the client's EOF is lost.
  name: "half-close: the reply after the client's EOF",
  async run(ctx) {
    const n = 64 * 1024;
    return withForward(ctx, { remotePort: ctx.servicePort }, async (fwd) => {
      const got = await upload(fwd.port, "half", n, 30_000, true).then(
        (r) => r.answer,
        (e: Error) => `error: ${e.message}`,
      );
      const observed = halfCloseObserved(got, `${sha256Of("half", n)} ${n}`);
      return { outcome: got === "" ? "pass" : "fail", observed };
    });
  },
};

/**
 * MGS closes a data channel with 1000 "Bye" (its hourly recycle); the client resumes with
 * ResumeSession and both ends resend what was not acknowledged. With newStreamUrl, every
 * ResumeSession answer names a new StreamUrl (the emulator's newStreamUrlOnResume, from plugin
 * 1.2.835.0's release notes); without, the old one stays valid.
 */
function resumeCase(name: string, newStreamUrl: boolean): Case {
  return {
    name,
    async run(ctx) {
      const n = 2 * MiB;
      const before = (await (await fetch(`${ctx.cloud.endpoint}/_localcloud/faults`)).json()) as FaultSpec;
      await ctx.cloud.setFaults({
        ...before,
        dataChannel: { ...(before.dataChannel ?? {}), closeAfterSeconds: 2, newStreamUrlOnResume: newStreamUrl ? 1 : 0 },
      });
      try {
        return await withForward(ctx, { remotePort: ctx.servicePort }, async (fwd) => {
          const [down, up] = await Promise.allSettled([download(fwd.port, "resume", n, 45_000), upload(fwd.port, "resume-up", n, 45_000)]);
          const downOk = down.status === "fulfilled" && down.value.sha === sha256Of("resume", n);
          const upOk = up.status === "fulfilled" && up.value.answer === `${sha256Of("resume-up", n)} ${n}`;
          const say = (ok: boolean, r: PromiseSettledResult<unknown>) => {
            if (ok) return "intact";
            return r.status === "rejected" ? `stalled (${(r.reason as Error).message})` : "corrupt";
          };
          const session = await liveSession(ctx);
          const status = session?.dataPlane ? `; session ${session.dataPlane.status}, ${session.dataPlane.bytesIn} B received by the agent` : "";
          return {
            outcome: downOk && upOk ? "pass" : "fail",
            observed: `2 MiB download ${say(downOk, down)}, 2 MiB upload ${say(upOk, up)}${downOk && upOk ? "" : status}`,
          };
        });
      } finally {
        await ctx.cloud.setFaults(before);
      }
    },
  };
}

const resume = resumeCase("WebSocket closed every 2 s mid-transfer: resume", false);
const resumeNewUrl = resumeCase("the same, each resume on a new StreamUrl", true);

const terminate: Case = {
  name: "TerminateSession while a download runs",
  async run(ctx) {
    return withForward(ctx, { remotePort: ctx.servicePort }, async (fwd) => {
      const n = 256 * MiB;
      const running = download(fwd.port, "terminate", n, 15_000).then(
        (r) => (r.bytes < n ? "closed" : "completed"),
        (e: Error) => (/closed before/.test(e.message) ? "closed" : e.message),
      );
      await new Promise((r) => setTimeout(r, 1500));
      const session = await liveSession(ctx);
      if (!session) return { outcome: "fail", observed: "no live session to terminate" };
      const started = Date.now();
      await terminateSession(ctx.clients.ssm, session.sessionId);
      const connection = await running;
      const closedIn = ((Date.now() - started) / 1000).toFixed(1);
      const exited =
        ctx.client === "plugin"
          ? await Promise.race([fwd.exited.then((c) => `exited ${c}`), new Promise<string>((r) => setTimeout(() => r("still running 10 s later"), 10_000))])
          : undefined;
      const status = (await ctx.cloud.state()).sessions.find((s) => s.sessionId === session.sessionId)?.status;
      const connectionClosed = connection === "closed";
      const ok = connectionClosed && status === "Terminated" && (exited === undefined || exited === "exited 0");
      const words = `the open connection ${connectionClosed ? "was closed" : `: ${connection}`}, session ${status}${exited ? `, plugin ${exited}` : ""}`;
      return { outcome: ok ? "pass" : "fail", observed: words + (ok ? "" : ` (after ${closedIn} s)`) };
    });
  },
};

export const CASES: Case[] = [
  remoteHost,
  portOnTarget,
  basic,
  atOnce,
  parallel,
  halfClose,
  resume,
  resumeNewUrl,
  terminate,
  shellCase("ECS Exec shell: typing, resize, Ctrl-C, exit", false),
  shellCase("the same on a KMS cluster (encrypted both ways)", true),
];

/** What a half-close showed: the reply after the client's EOF (an emulator that half-closes), none (an agent that closes), or something else. */
function halfCloseObserved(got: string, reply: string): string {
  if (got === reply) return "the reply arrived after the client's EOF";
  return got === "" ? "no reply: the target connection was closed at the client's EOF" : `unexpected: ${got}`;
}

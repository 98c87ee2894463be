// Runs scripts/portforward.mts as a real process against the local cloud (node --import tsx: no tsx CLI
// in between, which would relay Ctrl-C a second time), and the probes the tests and the benchmark share.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LocalCloud } from "../localcloud/index.ts";
import { run, startScript, type RunResult, type Running } from "../support/run.ts";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const PORTFORWARD = join(REPO, "scripts/portforward.mts");

export interface ReadyLine {
  event: "ready";
  env: string;
  cluster: string;
  task: string;
  taskArn: string;
  via: "ecs-exec" | "instance";
  target: string;
  client: string;
  /** localAddress and localPort for a TCP forward, localSocket for --socket. */
  forwards: Array<{ localAddress: string; localPort: number; localSocket?: string; host: string; remotePort: number; label: string }>;
  log: string;
}

export interface Portforward {
  child: ChildProcess;
  spawnedAt: number;
  stdout(): string;
  stderr(): string;
  /** The --json line, once printed; rejects if the process exits first. */
  ready: Promise<ReadyLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  interrupt(): void;
}

/** A private XDG_STATE_HOME per run, so session logs never land in the real home. */
export function stateHome(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "pf-state-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** portforward as a child; `as` runs it as another Unix user (the tests run as root). */
export function startPortforward(cloud: LocalCloud, args: string[], env: Record<string, string> = {}, as: { uid?: number; gid?: number } = {}): Portforward {
  const spawnedAt = Date.now();
  // As the operator, holding exactly docker/iam/operator.json: a missing permission fails here, naming the action.
  const running = startScript("scripts/portforward.mts", args, {
    env: { ...cloud.env, ...cloud.principalEnv("operator"), ...env },
    ...as,
    timeoutMs: Number.POSITIVE_INFINITY,
  });
  const exited = running.result.then(({ code, signal }) => ({ code, signal, ms: Date.now() - spawnedAt }));
  const ready = readyLine(running, "portforward");
  ready.catch(() => {});
  return { child: running.child, spawnedAt, stdout: running.stdout, stderr: running.stderr, ready, exited, interrupt: () => void running.child.kill("SIGINT") };
}

/** The --json ready line, once `running` printed it; rejects, with its stderr, if it exits first. */
export function readyLine(running: Running, name: string): Promise<ReadyLine> {
  return new Promise<ReadyLine>((resolve, reject) => {
    running.child.stdout.on("data", () => {
      const line = running
        .stdout()
        .split("\n")
        .find((l) => l.startsWith("{"));
      if (line) resolve(JSON.parse(line) as ReadyLine);
    });
    void running.result.then(({ code }) => reject(new Error(`${name} exited (${code}) before it was ready: ${running.stderr().trim()}`)));
  });
}

/** Runs psql against a local port without blocking the event loop (the cloud answers from this process). */
export function psql(port: number, user: string, database: string, sql: string, host = "127.0.0.1"): Promise<RunResult> {
  return run("psql", ["-X", "-tA", "-F", "|", "-h", host, "-p", String(port), "-U", user, "-d", database, "-c", sql], { env: { PGCONNECT_TIMEOUT: "10" } });
}

/** The rows of the demo table, read straight from the local PostgreSQL (what the tunnel must return). */
export async function seededRows(cloud: LocalCloud): Promise<string> {
  const pg = cloud.postgres!;
  const out = await psql(pg.port, pg.user, pg.database, "select id, env, message from greetings order by id");
  if (out.code !== 0) throw new Error(`psql straight to the database failed: ${out.stderr}`);
  return out.stdout;
}

/**
 * Connects to 127.0.0.1:port until something listens, sends PostgreSQL's SSLRequest and resolves
 * with the time the first byte of the answer came back through the tunnel.
 */
export async function firstByteAt(port: number, deadline: number): Promise<number> {
  const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no byte through 127.0.0.1:${port} before the deadline`);
    const at = await new Promise<number | undefined>((resolve) => {
      const socket = connect({ port, host: "127.0.0.1" });
      socket.once("connect", () => socket.write(SSL_REQUEST));
      socket.once("data", () => {
        const t = Date.now();
        socket.destroy();
        resolve(t);
      });
      socket.once("error", () => resolve(undefined));
      socket.once("close", () => resolve(undefined));
      socket.setTimeout(Math.max(1, deadline - Date.now()), () => socket.destroy());
    });
    if (at !== undefined) return at;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A free port number (listened on and closed again). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** Holds a port busy until closed. */
export async function occupyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, server };
}

/** What a run may have left: bastion tasks not STOPPED, activations, instances, parameters, live sessions. */
export async function leftovers(cloud: LocalCloud) {
  return leftoversOf(await cloud.state());
}

export function leftoversOf(s: Awaited<ReturnType<LocalCloud["state"]>>) {
  return {
    tasks: s.tasks.filter((t) => t.startedBy?.startsWith("bastionless:") && t.lastStatus !== "STOPPED").map((t) => `${t.taskId} ${t.lastStatus}`),
    activations: s.activations.map((a) => a.activationId),
    instances: s.instances.map((i) => i.instanceId),
    parameters: s.parameters.map((p) => p.name),
    sessions: s.sessions.filter((x) => !["Terminated", "Failed"].includes(x.status)).map((x) => `${x.sessionId} ${x.status}`),
  };
}

export const NOTHING_LEFT = { tasks: [], activations: [], instances: [], parameters: [], sessions: [] };

export { eventually } from "../support/eventually.ts";

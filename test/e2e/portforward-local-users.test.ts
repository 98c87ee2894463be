// Another local user must not receive a forward's connections. Two real Unix users, created here:
// the victim runs portforward, mallory tries to listen where the victim's clients connect — on [::1]
// (where clients that resolve localhost to ::1 go) before and while the tunnel is open, and on
// 127.0.0.1 and [::1] every 5 ms while the tunnel reconnects after its session was terminated —
// and, with --socket, cannot even connect.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { SSMClient, TerminateSessionCommand } from "@aws-sdk/client-ssm";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "../support/clients.ts";
import { HAS_IPV6_LOOPBACK } from "../support/ipv6.ts";
import { shareRepository } from "../support/unix-users.ts";
import { NOTHING_LEFT, eventually, freePort, leftovers, psql, seededRows, startPortforward, type Portforward } from "./portforward-harness.ts";

const isRoot = process.getuid?.() === 0;
const suffix = String(process.pid % 100_000);
const VICTIM = `blvictim${suffix}`;
const MALLORY = `blmallory${suffix}`;

let cloud: LocalCloud;
let rows: string;
let home: string;
const ids: Record<string, { uid: number; gid: number }> = {};
const children: ChildProcess[] = [];

let releaseRepository: (() => void) | undefined;

beforeAll(async () => {
  if (!isRoot) return;
  releaseRepository = shareRepository();
  for (const user of [VICTIM, MALLORY]) {
    execFileSync("useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", user]);
    ids[user] = { uid: Number(execFileSync("id", ["-u", user]).toString()), gid: Number(execFileSync("id", ["-g", user]).toString()) };
  }
  home = mkdtempSync(join(tmpdir(), "pf-victim-"));
  chownSync(home, ids[VICTIM].uid, ids[VICTIM].gid);
  chmodSync(home, 0o700);
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 200, pendingMs: 200 }, stopTimeoutMs: 10_000 });
  rows = await seededRows(cloud);
}, 120_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await cloud?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
  for (const user of [VICTIM, MALLORY]) if (ids[user]) execFileSync("userdel", [user]);
  releaseRepository?.();
});

/** portforward --json as the victim (its own uid, HOME and state directory). */
function victimPortforward(args: string[]): Portforward {
  const run = startPortforward(
    cloud,
    args,
    { HOME: home, XDG_STATE_HOME: join(home, "state"), USER: VICTIM, BASTIONLESS_CONFIG: "" },
    { uid: ids[VICTIM].uid, gid: ids[VICTIM].gid },
  );
  children.push(run.child);
  return run;
}

// Mallory's listener: tries each host once ("once") or every 5 ms until it has them all ("loop");
// prints "took <host>" or "busy <host> <code>", and "captured <host> <bytes>" for what it receives.
const SQUATTER = `
const net = require("node:net");
const [port, mode, ...hosts] = process.argv.slice(1);
const left = new Set(hosts);
const attempt = (host) => {
  const server = net.createServer((c) => c.on("data", (d) => console.log("captured " + host + " " + JSON.stringify(String(d)))));
  server.once("error", (e) => { if (mode === "once") console.log("busy " + host + " " + e.code); });
  server.listen({ port: Number(port), host, exclusive: true, ipv6Only: host === "::1" }, () => { left.delete(host); console.log("took " + host); });
};
if (mode === "once") hosts.forEach(attempt);
else setInterval(() => [...left].forEach(attempt), 5);
`;

function mallory(port: number, mode: "once" | "loop", hosts: string[]): { output(): string; stop(): void } {
  const child = spawn(process.execPath, ["-e", SQUATTER, String(port), mode, ...hosts], {
    uid: ids[MALLORY].uid,
    gid: ids[MALLORY].gid,
    cwd: "/",
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  return { output: () => out, stop: () => void child.kill("SIGKILL") };
}

const reached = (port: number, host: string) =>
  new Promise<string>((resolve) => {
    const s = connect(port, host, () => resolve("connected")).once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.unref();
  });

describe.skipIf(!isRoot)("another local user and the forwarded port", () => {
  it.skipIf(!HAS_IPV6_LOOPBACK)(
    "a port mallory holds on [::1] is refused before anything is launched, naming the flag (exit 2)",
    async () => {
      const port = await freePort();
      const squatter = mallory(port, "once", ["::1"]);
      await eventually(async () => (squatter.output().includes("took ::1") ? true : undefined), 10_000, "mallory on [::1]");
      const run = victimPortforward(["--env", "stg", "--yes", "--json", "--client", "native", "--target", "stg-db", "--local-port", String(port)]);
      const first = await Promise.race([run.exited.then(() => "exited"), run.ready.then(() => "ready")]);
      if (first === "ready") run.interrupt();
      const { code } = await run.exited;
      squatter.stop();
      expect(first).toBe("exited");
      expect(code).toBe(2);
      expect(run.stderr().trim().split("\n").at(-1)).toBe(
        `portforward: Local port ${port} is busy on [::1] (another program listens on [::1]:${port}, where clients that resolve localhost to ::1 would connect): pass --local-port with a free port, or 0 for any free port.`,
      );
      expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
    },
    90_000,
  );

  it.skipIf(!HAS_IPV6_LOOPBACK)(
    "while the tunnel is open mallory cannot listen on [::1] at its port; clients on ::1 reach the database; it prints 127.0.0.1",
    async () => {
      const run = victimPortforward(["--env", "stg", "--yes", "--json", "--client", "native", "--target", "stg-db", "--local-port", "0"]);
      const ready = await run.ready;
      const port = ready.forwards[0].localPort;
      expect(ready.forwards[0].localAddress).toBe("127.0.0.1");
      const squatter = mallory(port, "once", ["::1", "127.0.0.1"]);
      await eventually(async () => (squatter.output().trim().split("\n").length === 2 ? true : undefined), 10_000, "mallory's two attempts");
      squatter.stop();
      expect(squatter.output().trim().split("\n").sort()).toEqual(["busy 127.0.0.1 EADDRINUSE", "busy ::1 EADDRINUSE"]);
      const viaV6 = await psql(port, cloud.postgres!.user, cloud.postgres!.database, "select id, env, message from greetings order by id", "::1");
      expect(viaV6.stdout).toBe(rows);
      run.interrupt();
      expect((await run.exited).code).toBe(0);
      expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
    },
    90_000,
  );

  it("when the session is terminated and StartSession fails, the tunnel reconnects behind the same listeners: mallory, binding every 5 ms, never gets the port", async () => {
    const run = victimPortforward(["--env", "stg", "--yes", "--json", "--client", "native", "--target", "stg-db", "--local-port", "0"]);
    const ready = await run.ready;
    const port = ready.forwards[0].localPort;
    const squatter = mallory(port, "loop", ["127.0.0.1", "::1"]);
    const ssm = new SSMClient(cloudConfig(cloud));
    try {
      const session = (await cloud.state()).sessions.find((s) => s.status === "Connected" && s.target === ready.target)!;
      await cloud.setFaults({ "ssm:StartSession": { failNext: { count: 1000, code: "InternalServerError", status: 500, message: "injected" } } });
      await ssm.send(new TerminateSessionCommand({ SessionId: session.sessionId }));
      await eventually(async () => (/Session \S+ for port \d+ ended/.test(run.stderr()) ? true : undefined), 20_000, "the session's end noticed");
      // The next connection needs a new session: it cannot be had, so the tunnel reconnects.
      expect(await reached(port, "127.0.0.1")).toBe("connected");
      await eventually(async () => (run.stderr().includes("Reconnecting failed") ? true : undefined), 60_000, "a failed reconnect attempt");
      expect(squatter.output()).toBe("");
      await cloud.setFaults({});
      await eventually(async () => (run.stderr().includes(`Reconnected on 127.0.0.1:${port}.`) ? true : undefined), 60_000, "the reconnect");
      const query = await psql(port, cloud.postgres!.user, cloud.postgres!.database, "select id, env, message from greetings order by id");
      expect(query.stdout).toBe(rows);
      expect(squatter.output()).toBe("");
    } finally {
      squatter.stop();
      ssm.destroy();
      await cloud.setFaults({});
    }
    run.interrupt();
    expect((await run.exited).code).toBe(0);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 180_000);

  it("--socket: the forward is a 0600 Unix socket of the victim's; mallory cannot connect, the victim's psql reaches the database; removed at exit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pf-sock-"));
    chmodSync(dir, 0o1777); // shared and sticky, like /tmp
    const path = join(dir, ".s.PGSQL.5432");
    try {
      const run = victimPortforward(["--env", "stg", "--yes", "--json", "--client", "native", "--target", "stg-db", "--socket", path]);
      const ready = await run.ready;
      expect(ready.forwards[0]).toMatchObject({ localSocket: path, remotePort: 5432 });
      expect(ready.forwards[0].localPort).toBeUndefined();
      const st = statSync(path);
      expect([st.isSocket(), st.mode & 0o777, st.uid]).toEqual([true, 0o600, ids[VICTIM].uid]);
      const attempt = spawn(
        process.execPath,
        [
          "-e",
          `require("node:net").connect(${JSON.stringify(path)}).on("connect", () => { console.log("connected"); process.exit(0); }).on("error", (e) => { console.log(e.code); process.exit(0); })`,
        ],
        { uid: ids[MALLORY].uid, gid: ids[MALLORY].gid, stdio: ["ignore", "pipe", "inherit"] },
      );
      let said = "";
      attempt.stdout!.on("data", (d) => (said += d));
      await new Promise((r) => attempt.once("close", r));
      expect(said.trim()).toBe("EACCES");
      const asVictim = spawn(
        "psql",
        [
          "-X",
          "-tA",
          "-F",
          "|",
          "-h",
          dir,
          "-p",
          "5432",
          "-U",
          cloud.postgres!.user,
          "-d",
          cloud.postgres!.database,
          "-c",
          "select id, env, message from greetings order by id",
        ],
        {
          uid: ids[VICTIM].uid,
          gid: ids[VICTIM].gid,
          cwd: home,
          env: { ...process.env, HOME: home, PGCONNECT_TIMEOUT: "10" },
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      let out = "";
      asVictim.stdout!.on("data", (d) => (out += d));
      await new Promise((r) => asVictim.once("close", r));
      expect(out).toBe(rows);
      run.interrupt();
      expect((await run.exited).code).toBe(0);
      expect(existsSync(path)).toBe(false);
      expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

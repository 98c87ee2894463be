// Listener and file safety, with the real programs against the local cloud: forwards listen on
// 127.0.0.1 (and ::1) only unless --address asks otherwise (seen from the network side and in /proc/net/tcp);
// the session log and the audit log are 0600 in 0700 directories even under umask 0000; the
// entrypoint hands its CMD to the app as argv, never through a shell.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { NOTHING_LEFT, leftovers, PORTFORWARD, REPO, type ReadyLine } from "../e2e/portforward-harness.ts";
import { startEntrypoint } from "../e2e/entrypoint-harness.ts";
import { eventually } from "../support/eventually.ts";
import { entrypointRoleEnv, watchDenials } from "../support/iam.ts";
import { HAS_IPV6_LOOPBACK } from "../support/ipv6.ts";
import { start } from "../support/run.ts";
import { asUser, createUser, removeUser, runAs, type UnixUser } from "../support/unix-users.ts";

const EXEC = join(REPO, "scripts/exec.mts");
const JSON_ARGS = ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--json"];

let cloud: LocalCloud;
const temps: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** This machine's first non-loopback IPv4 address: what another machine on the network would connect to. */
function networkAddress(): string {
  const found = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal);
  if (!found) throw new Error("this machine has no non-loopback IPv4 address to test the listener against");
  return found.address;
}

interface Program {
  pid: number;
  stdout(): string;
  stderr(): string;
  /** The first line of stdout that is JSON (portforward --json's ready line). */
  ready: Promise<ReadyLine>;
  /** The first stdout line once it exists. */
  firstLine: Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  interrupt(): void;
}

/**
 * portforward or exec (as the operator, holding exactly docker/iam/operator.json) under `node --import tsx`, through `sh -c 'umask …; exec node …'` so the umask is
 * the child's own (Node cannot set a child's umask) and the shell is replaced, not left as a parent.
 */
function runProgram(script: string, args: string[], env: Record<string, string | undefined>, umask = "0022", user?: UnixUser): Program {
  const fullEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...cloud.env, ...cloud.principalEnv("operator"), BASTIONLESS_CONFIG: "", ...env }))
    if (v !== undefined) fullEnv[k] = v;
  const argv = [process.execPath, "--import", "tsx", script, ...args];
  const running = start("/bin/sh", ["-c", `umask ${umask} && exec "$@"`, "sh", ...(user ? asUser(user, argv) : argv)], {
    baseEnv: fullEnv,
    timeoutMs: Number.POSITIVE_INFINITY,
  });
  const { child } = running;
  const exited = running.result.then(({ code, signal }) => ({ code, signal }));
  const fromStdout = <T>(pick: (text: string) => T | undefined) =>
    new Promise<T>((resolve, reject) => {
      const look = () => {
        const found = pick(running.stdout());
        if (found !== undefined) resolve(found);
      };
      child.stdout.on("data", look);
      void exited.then(({ code }) => (look(), reject(new Error(`${script} exited (${code}) first: ${running.stderr().trim()}`))));
    });
  const ready = fromStdout((text) => {
    const line = text.split("\n").find((l) => l.startsWith("{") && l.endsWith("}"));
    return line ? (JSON.parse(line) as ReadyLine) : undefined;
  });
  const firstLine = fromStdout((text) => (text.includes("\n") ? text.slice(0, text.indexOf("\n")) : undefined));
  ready.catch(() => {});
  firstLine.catch(() => {});
  return { pid: child.pid!, stdout: running.stdout, stderr: running.stderr, ready, firstLine, exited, interrupt: () => void child.kill("SIGINT") };
}

/** connect() to host:port: "connected" or the error code (ECONNREFUSED when nothing listens there). */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(10_000, () => (socket.destroy(), resolve("ETIMEDOUT")));
    socket.once("connect", () => (socket.destroy(), resolve("connected")));
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** PostgreSQL's SSLRequest through host:port: the first byte of the answer ("N" from the local PostgreSQL). */
function sslAnswer(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setTimeout(20_000, () => (socket.destroy(), reject(new Error(`no answer through ${host}:${port}`))));
    socket.once("connect", () => socket.write(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])));
    socket.once("data", (d) => (socket.destroy(), resolve(d.subarray(0, 1).toString("latin1"))));
    socket.once("error", reject);
  });
}

interface Listening {
  address: string;
  inode: string;
}

/** Every LISTEN socket on `port` in /proc/net/tcp and tcp6, with its address and socket inode. */
function listenersOn(port: number): Listening[] {
  const found: Listening[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").trim().split("\n").slice(1)) {
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
      const [hexAddress, hexPort] = local.split(":");
      if (state !== "0A" || parseInt(hexPort, 16) !== port) continue;
      const address =
        hexAddress.length === 8
          ? Buffer.from(hexAddress, "hex").reverse().join(".") // IPv4, little-endian on x86 and arm64
          : `tcp6:${hexAddress}`;
      found.push({ address, inode });
    }
  }
  return found;
}

/** The socket inodes a process holds open. */
function socketInodes(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return m ? [m[1]] : [];
    } catch {
      return [];
    }
  });
}

/** Every file and directory under `root` with its permission bits, relative paths. */
function modesUnder(root: string): Record<string, string> {
  const modes: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = statSync(path);
      modes[relative(root, path)] = (st.isDirectory() ? "d" : "f") + (st.mode & 0o777).toString(8).padStart(4, "0");
      if (st.isDirectory()) walk(path);
    }
  };
  walk(root);
  return modes;
}

async function bastionTasks(): Promise<string[]> {
  return (await cloud.state()).tasks.filter((t) => t.startedBy?.startsWith("bastionless:")).map((t) => t.taskId);
}

beforeAll(async () => {
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 200, pendingMs: 200 }, stopTimeoutMs: 2000 });
}, 120_000);

// A call the local cloud refused fails the test, naming the action.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  await cloud?.stop();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe("forwards listen on 127.0.0.1 only unless asked", () => {
  it("by default: 127.0.0.1 and ::1 answer, this machine's network address refuses, /proc/net/tcp{,6} show a 127.0.0.1 and a ::1 listener held by portforward", async () => {
    const ip = networkAddress();
    const run = runProgram(PORTFORWARD, JSON_ARGS, { XDG_STATE_HOME: tempDir("safety-state-") });
    const ready = await run.ready;
    const port = ready.forwards[0].localPort;
    expect(ready.forwards[0].localAddress).toBe("127.0.0.1");

    expect(await sslAnswer("127.0.0.1", port)).toBe("N");
    // [::1] too, so that nobody else can listen where clients resolving localhost to ::1 go.
    if (HAS_IPV6_LOOPBACK) expect(await sslAnswer("::1", port)).toBe("N");
    expect(await tryConnect(ip, port)).toBe("ECONNREFUSED");
    const listeners = listenersOn(port);
    expect(listeners.map((l) => l.address)).toEqual(["127.0.0.1", ...(HAS_IPV6_LOOPBACK ? ["tcp6:00000000000000000000000001000000"] : [])]);
    expect(socketInodes(run.pid)).toEqual(expect.arrayContaining(listeners.map((l) => l.inode)));
    expect(run.stderr()).not.toContain("warning:");

    run.interrupt();
    expect((await run.exited).code).toBe(0);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 120_000);

  it("--address 0.0.0.0: listens on every interface, reachable at this machine's address, and warns once", async () => {
    const ip = networkAddress();
    const run = runProgram(PORTFORWARD, [...JSON_ARGS, "--address", "0.0.0.0"], { XDG_STATE_HOME: tempDir("safety-state-") });
    const ready = await run.ready;
    const port = ready.forwards[0].localPort;
    expect(ready.forwards[0].localAddress).toBe("0.0.0.0");
    expect(ready.client).toBe("native");

    expect(await sslAnswer(ip, port)).toBe("N");
    expect(await sslAnswer("127.0.0.1", port)).toBe("N");
    const listeners = listenersOn(port);
    expect(listeners.map((l) => l.address)).toEqual(["0.0.0.0"]);
    expect(socketInodes(run.pid)).toContain(listeners[0].inode);
    const warnings = run
      .stderr()
      .split("\n")
      .filter((l) => l.startsWith("warning:"));
    expect(warnings).toEqual(["warning: --address 0.0.0.0: the forwarded ports accept connections from the network, not only from this machine."]);

    run.interrupt();
    expect((await run.exited).code).toBe(0);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 120_000);

  it("--address <this machine's IP>: listens there only (127.0.0.1 refuses) and says so in the human line", async () => {
    const ip = networkAddress();
    const run = runProgram(PORTFORWARD, ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--address", ip], {
      XDG_STATE_HOME: tempDir("safety-state-"),
    });
    const line = await run.firstLine;
    const m = new RegExp(`^${ip.replace(/\./g, "\\.")}:(\\d+) → \\S+:5432 via ecs:stg-main_\\S+$`).exec(line);
    expect(m, line).not.toBeNull();
    const port = Number(m![1]);

    expect(await sslAnswer(ip, port)).toBe("N");
    expect(await tryConnect("127.0.0.1", port)).toBe("ECONNREFUSED");
    expect(listenersOn(port).map((l) => l.address)).toEqual([ip]);
    expect(run.stderr()).toContain(`warning: --address ${ip}: the forwarded ports accept connections from the network, not only from this machine.\n`);

    run.interrupt();
    expect((await run.exited).code).toBe(0);
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 120_000);

  it.each([
    [
      "1.2.3",
      `portforward: --address "1.2.3" is not an IP address: use 127.0.0.1 (the default, this machine only), 0.0.0.0 (every interface) or one of this machine's addresses.`,
    ],
    [
      "0.0.0.0:5432",
      `portforward: --address "0.0.0.0:5432" is not an IP address: use 127.0.0.1 (the default, this machine only), 0.0.0.0 (every interface) or one of this machine's addresses.`,
    ],
    [
      "192.0.2.254",
      "portforward: --address 192.0.2.254 is not an address of this machine: pass one of its addresses (ip -brief address), 0.0.0.0 for every interface, or leave --address out for 127.0.0.1.",
    ],
  ])(
    "--address %s: one line, exit 2, nothing launched",
    async (address, message) => {
      const before = await bastionTasks();
      const run = runProgram(PORTFORWARD, [...JSON_ARGS, "--address", address], { XDG_STATE_HOME: tempDir("safety-state-") });
      const exit = await run.exited;
      expect(run.stderr()).toBe(message + "\n");
      expect(exit.code).toBe(2);
      expect(run.stdout()).toBe("");
      expect(await bastionTasks()).toEqual(before);
    },
    60_000,
  );

  it("--address 0.0.0.0 --client plugin: refused in one line naming the fix, exit 2 (the plugin listens on localhost only)", async () => {
    const run = runProgram(PORTFORWARD, [...JSON_ARGS, "--address", "0.0.0.0", "--client", "plugin"], { XDG_STATE_HOME: tempDir("safety-state-") });
    const exit = await run.exited;
    expect(run.stderr()).toBe(
      "portforward: --address 0.0.0.0 needs --client native: session-manager-plugin listens on 127.0.0.1 only. Pass --client native, or leave --address out.\n",
    );
    expect(exit.code).toBe(2);
  }, 60_000);
});

describe("log and audit files are 0600 in 0700 directories, whatever the umask", () => {
  it("portforward's session log under umask 0000 and a fresh HOME: ~/.local/state/bastionless 0700, the log 0600, nothing else written", async () => {
    const home = tempDir("safety-home-");
    const run = runProgram(PORTFORWARD, JSON_ARGS, { HOME: home, XDG_STATE_HOME: undefined }, "0000");
    const ready = await run.ready;
    expect(ready.log.startsWith(join(home, ".local/state/bastionless/portforward-"))).toBe(true);
    run.interrupt();
    expect((await run.exited).code).toBe(0);
    // Every directory the run created (mkdir -p of ~/.local/state/bastionless) is 0700, the log 0600.
    expect(modesUnder(home)).toEqual({
      ".local": "d0700",
      ".local/state": "d0700",
      ".local/state/bastionless": "d0700",
      [relative(home, ready.log)]: "f0600",
    });
  }, 120_000);

  it("exec's audit.jsonl under umask 0000 and a fresh HOME: 0600 in a 0700 directory, nothing else written", async () => {
    const home = tempDir("safety-home-");
    const run = runProgram(EXEC, ["--env", "stg", "--yes", "--command", "echo audited"], { HOME: home, XDG_STATE_HOME: undefined }, "0000");
    const exit = await run.exited;
    expect(run.stdout()).toMatch(/^audited\r?$/m);
    expect(exit.code).toBe(0);
    expect(modesUnder(home)).toEqual({
      ".local": "d0700",
      ".local/state": "d0700",
      ".local/state/bastionless": "d0700",
      ".local/state/bastionless/audit.jsonl": "f0600",
    });
    const events = readFileSync(join(home, ".local/state/bastionless/audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).event);
    expect(events).toEqual(["exec.start", "exec.session", "exec.end"]);
  }, 120_000);

  it("an audit.jsonl left world-readable (0666) is made 0600 on the next exec; an existing state dir's own mode is left alone (XDG)", async () => {
    const state = tempDir("safety-xdg-");
    chmodSync(state, 0o755);
    const dir = join(state, "bastionless");
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, "audit.jsonl"), "", { mode: 0o666 });
    chmodSync(join(dir, "audit.jsonl"), 0o666);
    const run = runProgram(EXEC, ["--env", "stg", "--yes", "--command", "true"], { XDG_STATE_HOME: state }, "0000");
    expect((await run.exited).code).toBe(0);
    expect(modesUnder(state)).toEqual({ bastionless: "d0700", "bastionless/audit.jsonl": "f0600" });
    expect(statSync(state).mode & 0o777).toBe(0o755);
  }, 120_000);
});

describe("log files never follow a link another user planted (two real users)", () => {
  let mallory: UnixUser;
  let victim: UnixUser;
  beforeAll(() => {
    mallory = createUser("blm");
    victim = createUser("blv");
  });
  afterAll(() => {
    removeUser(mallory);
    removeUser(victim);
  });

  it("exec by the victim with a shared XDG_STATE_HOME where mallory planted bastionless/audit.jsonl → ~/.bashrc: one line, exit 1, nothing run, .bashrc untouched", async () => {
    const base = tempDir("safety-shared-");
    chmodSync(base, 0o755);
    const shared = join(base, "state");
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const bashrc = join(victim.home, ".bashrc");
    runAs(victim, ["sh", "-c", `echo 'export EDITOR=vi' > "$1" && chmod 644 "$1"`, "sh", bashrc]);
    runAs(mallory, ["sh", "-c", `mkdir -m 755 "$1/bastionless" && ln -s "$2" "$1/bastionless/audit.jsonl"`, "sh", shared, bashrc]);
    const sessions = (await cloud.state()).sessions.length;
    const run = runProgram(EXEC, ["--env", "stg", "--yes", "--command", "echo should-not-run"], { XDG_STATE_HOME: shared }, "0022", victim);
    const exit = await run.exited;
    expect(run.stderr()).not.toContain("Exec into");
    expect(
      run
        .stderr()
        .split("\n")
        .filter((l) => l.startsWith("exec: ")),
    ).toEqual([
      `exec: Refusing to keep logs in ${shared}/bastionless: it is owned by uid ${mallory.uid}, not by you (uid ${victim.uid}). Point XDG_STATE_HOME at a directory of your own (under sudo, keep your own HOME: sudo -H, not sudo -E).`,
    ]);
    expect(exit.code).toBe(1);
    expect(run.stdout()).toBe("");
    expect((await cloud.state()).sessions.length).toBe(sessions);
    expect(readFileSync(bashrc, "utf8")).toBe("export EDITOR=vi\n");
    expect(statSync(bashrc).mode & 0o7777).toBe(0o644);
  }, 120_000);

  it("exec as root with the victim's HOME (sudo -E), the victim's audit.jsonl a link to a root-owned file: one line, exit 1, the file keeps its bytes and 0644", async () => {
    const rootFile = join(tempDir("safety-root-"), "root.conf");
    writeFileSync(rootFile, "owner: root\n");
    chmodSync(rootFile, 0o644);
    const dir = join(victim.home, ".local/state/bastionless");
    runAs(victim, ["sh", "-c", `mkdir -p -m 700 "$1" && ln -s "$2" "$1/audit.jsonl"`, "sh", dir, rootFile]);
    const run = runProgram(EXEC, ["--env", "stg", "--yes", "--command", "echo should-not-run"], { HOME: victim.home, XDG_STATE_HOME: undefined });
    const exit = await run.exited;
    expect(run.stderr()).not.toContain("Exec into");
    expect(
      run
        .stderr()
        .split("\n")
        .filter((l) => l.startsWith("exec: ")),
    ).toEqual([
      `exec: Refusing to keep logs in ${dir}: it is owned by uid ${victim.uid}, not by you (uid 0). Point XDG_STATE_HOME at a directory of your own (under sudo, keep your own HOME: sudo -H, not sudo -E).`,
    ]);
    expect(exit.code).toBe(1);
    expect(run.stdout()).toBe("");
    expect(readFileSync(rootFile, "utf8")).toBe("owner: root\n");
    expect(statSync(rootFile).mode & 0o7777).toBe(0o644);
  }, 120_000);

  it("portforward as root with the victim's HOME (sudo -E): its session log is refused in the victim's directory before any task is launched or any old log pruned", async () => {
    const dir = join(victim.home, ".local/state/bastionless");
    const old = join(dir, "portforward-20200101-000000-1.log");
    runAs(victim, ["sh", "-c", `mkdir -p -m 700 "$1" && echo '{}' > "$2" && touch -d 2020-01-01 "$2"`, "sh", dir, old]);
    const before = await bastionTasks();
    const run = runProgram(PORTFORWARD, JSON_ARGS, { HOME: victim.home, XDG_STATE_HOME: undefined });
    // Were the log accepted, the tunnel would open and wait: close it, and let the assertions say why.
    void run.ready.then(
      () => run.interrupt(),
      () => {},
    );
    const exit = await run.exited;
    expect(run.stderr()).toBe(
      `portforward: Refusing to keep logs in ${dir}: it is owned by uid ${victim.uid}, not by you (uid 0). Point XDG_STATE_HOME at a directory of your own (under sudo, keep your own HOME: sudo -H, not sudo -E).\n`,
    );
    expect(exit.code).toBe(1);
    expect(await bastionTasks()).toEqual(before);
    // Nothing created there, and nothing pruned either: the victim's old log is still there.
    expect(readdirSync(dir).filter((n) => n.startsWith("portforward-"))).toEqual(["portforward-20200101-000000-1.log"]);
  }, 120_000);
});

describe("the entrypoint never runs the CMD through a shell", () => {
  it("the app gets '$HOME', ';', '`touch …`', '*' … literally as argv, its parent is the entrypoint, and nothing was touched", async () => {
    // Each would do something under sh -c: expand, split, run touch in the run's HOME, glob the repo.
    const ARGS = [
      "$HOME",
      ";",
      "`touch $HOME/pwned-backtick`",
      "$(touch $HOME/pwned-subst)",
      "; touch $HOME/pwned-semicolon",
      "&& touch pwned-and",
      "*",
      "a b",
      "'quoted'",
      '"dq"',
      "|",
      ">out",
      "\\n",
      "",
    ];
    const APP = "process.stdout.write(JSON.stringify(process.argv.slice(1)) + '\\n'); setInterval(() => {}, 1 << 30);";
    const cmd = [process.execPath, "-e", APP, "--", ...ARGS];
    // As its task role, holding exactly docker/iam/entrypoint-task-role.json.
    const run = startEntrypoint({ cloud, cmd, env: await entrypointRoleEnv(cloud) });
    try {
      const started = await run.waitForEvent("app_started");
      const pid = started.pid as number;
      await run.waitForEvent("registration_complete", 60_000);
      // What the kernel holds as the app's argv: exactly the CMD.
      expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1)).toEqual(cmd);
      // What the app itself received.
      await eventually(async () => (run.stdout().includes("\n") ? true : undefined), 10_000, "the app's argv line");
      expect(JSON.parse(run.stdout().split("\n")[0])).toEqual(ARGS);
      // Parentage: app → entrypoint (node), no /bin/sh in between.
      const ppid = Number(
        readFileSync(`/proc/${pid}/stat`, "utf8")
          .replace(/^.*\) /s, "")
          .split(" ")[1],
      );
      expect(ppid).toBe(run.proc.pid);
      expect(readlinkSync(`/proc/${pid}/exe`)).toBe(readlinkSync(`/proc/${run.proc.pid}/exe`));
      expect(readFileSync(`/proc/${ppid}/cmdline`, "utf8").split("\0")).toContain(join(REPO, "scripts/entrypoint.mts"));
      for (const p of [pid, ppid]) expect(readFileSync(`/proc/${p}/comm`, "utf8").trim()).not.toMatch(/^(sh|bash|dash|ash)$/);
      // Nothing the injection would have created.
      expect(readdirSync(run.dir).filter((n) => n.startsWith("pwned") || n === "out")).toEqual([]);
      expect(["pwned-and", "out"].filter((n) => existsSync(join(REPO, n)))).toEqual([]);

      run.proc.kill("SIGTERM");
      const exit = await run.exited;
      expect(exit.code).toBe(143);
    } finally {
      await run.dispose();
    }
    expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
  }, 120_000);
});

// Real Unix users for two-user tests (an attacker and a victim on one machine). Tests run as root in
// CI: `useradd` them (retried while another useradd or userdel holds /etc/passwd's lock), run one side as that
// user with `setpriv` (the environment is kept as given, unlike su/runuser), `userdel` them after.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "../..");
/** Who is sharing the checkout now, across vitest's worker processes, and the modes to put back. */
const SHARE_DIR = join(REPO, "node_modules", ".cache", "bastionless-share");
const SHARE_STATE = join(SHARE_DIR, "state.json");
const SHARE_LOCK = join(SHARE_DIR, "lock");
let holds = 0;

interface ShareState {
  holders: string[];
  restore: Array<[string, number]>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Runs `change` on the shared state under a lock directory (mkdir is atomic); a lock older than 30 s is a dead holder's. */
function withShareState(change: (state: ShareState | undefined) => ShareState | undefined): void {
  mkdirSync(SHARE_DIR, { recursive: true, mode: 0o700 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      mkdirSync(SHARE_LOCK);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (Date.now() - statSync(SHARE_LOCK, { throwIfNoEntry: false })!.mtimeMs > 30_000 || Date.now() > deadline)
        rmSync(SHARE_LOCK, { recursive: true, force: true });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    const before = existsSync(SHARE_STATE) ? (JSON.parse(readFileSync(SHARE_STATE, "utf8")) as ShareState) : undefined;
    const after = change(before);
    if (after) writeFileSync(SHARE_STATE, JSON.stringify(after));
    else rmSync(SHARE_STATE, { force: true });
  } finally {
    rmSync(SHARE_LOCK, { recursive: true, force: true });
  }
}

/**
 * Lets other users reach this checkout, for as long as a test needs them to run our programs: each
 * directory above it without the search bit for others (a clone under `mktemp -d` is 0700) gets o+x —
 * traversal only, no listing — until the last user of it is released, then its mode is put back.
 * The count is kept in a file under node_modules/.cache, so that test files running at once in
 * several workers do not close the door on each other; a holder that died no longer counts.
 */
export function shareRepository(): () => void {
  const holder = `${process.pid}:${++holds}`;
  withShareState((state) => {
    const holders = (state?.holders ?? []).filter((h) => isAlive(Number(h.split(":")[0])));
    let restore = state?.restore;
    if (!restore) {
      restore = [];
      for (let dir = REPO; ; dir = dirname(dir)) {
        const mode = statSync(dir).mode & 0o7777;
        if (!(mode & 0o001)) {
          chmodSync(dir, mode | 0o001);
          restore.push([dir, mode]);
        }
        if (dirname(dir) === dir) break;
      }
    }
    return { holders: [...holders, holder], restore };
  });
  let released = false;
  return () => {
    if (released) return;
    released = true;
    withShareState((state) => {
      if (!state) return undefined;
      const holders = state.holders.filter((h) => h !== holder && isAlive(Number(h.split(":")[0])));
      if (holders.length) return { ...state, holders };
      for (const [dir, mode] of state.restore) chmodSync(dir, mode);
      return undefined;
    });
  };
}

const releases = new Map<string, () => void>();

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** True when this process may create users (root). */
export function canCreateUsers(): boolean {
  return process.getuid?.() === 0;
}

/** A new user named `<prefix><pid><random>` with a home directory. */
export function createUser(prefix: string): UnixUser {
  const name = `${prefix}${process.pid}${Math.floor(Math.random() * 1e4)}`.slice(0, 31);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const run = spawnSync("useradd", ["--create-home", "--shell", "/bin/sh", name], { encoding: "utf8" });
    if (run.status === 0) break;
    // "cannot lock /etc/passwd; try again later": another test is creating or removing its own user.
    if (!/lock/i.test(run.stderr) || Date.now() > deadline) throw new Error(`useradd ${name} exited ${run.status}: ${run.stderr.trim()}`);
    execFileSync("sleep", ["0.2"]);
  }
  const [uid, gid, home] = execFileSync("sh", ["-c", `id -u "$1"; id -g "$1"; getent passwd "$1" | cut -d: -f6`, "sh", name], { encoding: "utf8" })
    .trim()
    .split("\n");
  releases.set(name, shareRepository());
  return { name, uid: Number(uid), gid: Number(gid), home };
}

export function removeUser(user: UnixUser | undefined): void {
  if (!user) return;
  releases.get(user.name)?.();
  releases.delete(user.name);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const run = spawnSync("userdel", ["--remove", user.name], { encoding: "utf8" });
    if (run.status === 0 || run.status === 6 /* no such user */) return;
    if (!/lock/i.test(run.stderr) || Date.now() > deadline) throw new Error(`userdel ${user.name} exited ${run.status}: ${run.stderr.trim()}`);
    execFileSync("sleep", ["0.2"]);
  }
}

/** argv run as `user` (uid, gid, no supplementary groups), for spawn: ["setpriv", …, ...argv]. */
export function asUser(user: UnixUser, argv: string[]): string[] {
  return ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", ...argv];
}

/** Runs argv as `user` to its end; throws with its stderr when it fails. */
export function runAs(user: UnixUser, argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const [cmd, ...args] = asUser(user, argv);
  const run = spawnSync(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`${argv.join(" ")} as ${user.name} exited ${run.status}: ${run.stderr.trim()}`);
  return run.stdout;
}

// A detached watchdog per local cloud (bin/localcloud-reaper): if the process that started the
// cloud is SIGKILLed, nothing it started outlives it. The manifest lists what to reap.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface ReaperManifest {
  groups: number[];
  /** Commands that remove what no process group holds (a real container: `podman rm --force …`). */
  commands?: Array<{ argv: string[]; env?: Record<string, string> }>;
  postgres?: { data: string; asPostgresUser: boolean };
  dirs: string[];
}

export interface Reaper {
  addGroup(pgid: number): void;
  /** A group known dead: never signalled again (its id may belong to someone else by then). */
  removeGroup(pgid: number): void;
  addCommand(argv: string[], env?: Record<string, string>): void;
  setPostgres(p: { data: string; asPostgresUser: boolean; dir: string }): void;
  /** Normal shutdown: the cloud has cleaned up itself; the watchdog kills any group still listed, then goes. */
  stop(): Promise<void>;
}

export function startReaper(tmpRoot: string): Reaper {
  const file = join(tmpRoot, "reaper.json");
  const manifest: ReaperManifest = { groups: [], dirs: [tmpRoot] };
  const save = () => writeFileSync(file, JSON.stringify(manifest));
  save();
  const child: ChildProcess = spawn(process.execPath, [join(import.meta.dirname, "bin/localcloud-reaper"), String(process.pid), file], {
    detached: true,
    stdio: "ignore",
  });
  child.unref();
  return {
    addGroup(pgid) {
      manifest.groups.push(pgid);
      save();
    },
    removeGroup(pgid) {
      manifest.groups = manifest.groups.filter((g) => g !== pgid);
      save();
    },
    addCommand(argv, env) {
      (manifest.commands ??= []).push({ argv, ...(env ? { env } : {}) });
      save();
    },
    setPostgres({ data, asPostgresUser, dir }) {
      manifest.postgres = { data, asPostgresUser };
      manifest.dirs.push(dir);
      save();
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.ref(); // an unref'd child would let the loop empty (exit 0) while we wait for it
      child.kill("SIGTERM");
      await exited;
    },
  };
}

// What the installed bastionless (from the package or the single executable) must do against the local
// cloud, whichever way it was installed.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { expect } from "vitest";
import type { LocalCloud } from "../localcloud/index.ts";
import { NOTHING_LEFT, leftovers, psql, type ReadyLine } from "./portforward-harness.ts";

export interface Installed {
  /** The command as the user types it (found on env.PATH) or its path. */
  command: string;
  /** A directory outside the repository with the team's bastionless.config.json. */
  cwd: string;
  env: Record<string, string | undefined>;
  /** XDG_STATE_HOME of the run: the session log must land there. */
  state: string;
}

/** `<command> tunnel … --yes --json` to stg-db: ready, psql returns the seeded rows, Ctrl-C, exit 0, nothing left. */
export async function expectTunnel(cloud: LocalCloud, rows: string, installed: Installed, args: string[]): Promise<void> {
  const { cwd: team, state } = installed;
  const child = spawn(installed.command, args, { cwd: team, env: installed.env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve(JSON.parse(line) as ReadyLine);
    });
    void exited.then((code) => reject(new Error(`bastionless exited (${code}) before it was ready: ${err.trim()}`)));
  });
  expect(ready).toMatchObject({ event: "ready", env: "stg", cluster: "stg-main", via: "ecs-exec", client: "native" });
  expect(ready.forwards).toEqual([{ localAddress: "127.0.0.1", localPort: expect.any(Number), host: expect.any(String), remotePort: 5432, label: "stg-db" }]);
  expect(ready.log.startsWith(state)).toBe(true);

  const query = await psql(ready.forwards[0].localPort, cloud.postgres!.user, cloud.postgres!.database, "select id, env, message from greetings order by id");
  expect([query.stderr, query.stdout]).toEqual(["", rows]);

  child.kill("SIGINT");
  expect(await exited).toBe(0);
  expect(err).toContain(`Using config ${join(team, "bastionless.config.json")}, env stg`);
  expect(err).toContain(`Stopped bastion task ${ready.task}; nothing is left running.`);
  expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
}

// What the installed bastionless (from the package or the single executable) must do against the local
// cloud, whichever way it was installed.
import { join } from "node:path";
import { expect } from "vitest";
import type { LocalCloud } from "../localcloud/index.ts";
import { start } from "../support/run.ts";
import { NOTHING_LEFT, leftovers, psql, readyLine } from "./portforward-harness.ts";

export interface Installed {
  /** The command as the user types it (found on env.PATH) or its path. */
  command: string;
  /** A directory outside the repository with the team's bastionless.config.json. */
  cwd: string;
  env: Record<string, string | undefined>;
  /** XDG_STATE_HOME of the run: the session log must land there. */
  state: string;
}

/** The tunnel as the installed command runs it (the test names spell it out). */
export const TUNNEL_ARGS = ["tunnel", "--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--json"];

/** `<command> tunnel … --yes --json` to stg-db: ready, psql returns the seeded rows, Ctrl-C, exit 0, nothing left. */
export async function expectTunnel(cloud: LocalCloud, rows: string, installed: Installed, args: string[]): Promise<void> {
  const { cwd: team, state } = installed;
  const running = start(installed.command, args, { cwd: team, baseEnv: installed.env, timeoutMs: Number.POSITIVE_INFINITY });
  const ready = await readyLine(running, "bastionless");
  expect(ready).toMatchObject({ event: "ready", env: "stg", cluster: "stg-main", via: "ecs-exec", client: "native" });
  expect(ready.forwards).toEqual([{ localAddress: "127.0.0.1", localPort: expect.any(Number), host: expect.any(String), remotePort: 5432, label: "stg-db" }]);
  expect(ready.log.startsWith(state)).toBe(true);

  const query = await psql(ready.forwards[0].localPort, cloud.postgres!.user, cloud.postgres!.database, "select id, env, message from greetings order by id");
  expect([query.stderr, query.stdout]).toEqual(["", rows]);

  running.child.kill("SIGINT");
  const { code, stderr: err } = await running.result;
  expect(code, err).toBe(0);
  expect(err).toContain(`Using config ${join(team, "bastionless.config.json")}, env stg`);
  expect(err).toContain(`Stopped bastion task ${ready.task}; nothing is left running.`);
  expect(await leftovers(cloud)).toEqual(NOTHING_LEFT);
}

// A real PostgreSQL (Debian's) for the demo world's Aurora clusters: initdb in a temp dir owned by
// the postgres user (initdb refuses root), loopback only, seeded with a small table.
import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Postgres {
  host: string;
  port: number;
  user: string;
  database: string;
  url: string;
  stop(): Promise<void>;
}

const SEED = `
CREATE TABLE greetings (id serial PRIMARY KEY, env text NOT NULL, message text NOT NULL);
INSERT INTO greetings (env, message) VALUES
  ('stg', 'hello from the staging database'),
  ('prod', 'hello from the production database'),
  ('any', 'bastionless was here');
`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Where the server tools are: on PATH (some images link them), else Debian's versioned directory
 * (/usr/lib/postgresql/<major>/bin, where `apt-get install postgresql` puts them, off PATH).
 */
function serverTool(name: "initdb" | "pg_ctl"): string {
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, name))) return join(dir, name);
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", name)))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length) return join(root, majors[0], "bin", name);
  throw new Error(`PostgreSQL's ${name} was not found on PATH or in ${root}/*/bin: install it with apt-get install postgresql`);
}

/** initdb refuses to run as root: as root, run the server tools as the postgres user. */
function asPostgres(cmd: "initdb" | "pg_ctl", args: string[]): [string, string[]] {
  const tool = serverTool(cmd);
  return userInfo().uid === 0 ? ["runuser", ["-u", "postgres", "--", tool, ...args]] : [tool, args];
}

export interface PostgresFiles {
  data: string;
  dir: string;
  asPostgresUser: boolean;
}

export async function startPostgres(onCreated: (files: PostgresFiles) => void = () => {}): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), "localcloud-pg-"));
  const data = join(dir, "data");
  if (userInfo().uid === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const pgCtl = (args: string[]) => run(...asPostgres("pg_ctl", ["-D", data, ...args]));
  let started = false;
  try {
    await run(...asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]));
    onCreated({ data, dir, asPostgresUser: userInfo().uid === 0 });
    let port = 0;
    for (let attempt = 0; !started; attempt++) {
      port = await freePort();
      const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`;
      try {
        await pgCtl(["-o", opts, "-l", join(dir, "server.log"), "-w", "-t", "60", "start"]);
        started = true;
      } catch (err) {
        if (attempt >= 2) throw err; // the free port was taken in between: try another
      }
    }
    const psql = (db: string, user: string, sql: string) =>
      run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", db, "-c", sql]);
    await psql("postgres", "postgres", "CREATE ROLE app LOGIN");
    await psql("postgres", "postgres", "CREATE DATABASE app OWNER app");
    await psql("app", "app", SEED);
    return {
      host: "127.0.0.1",
      port,
      user: "app",
      database: "app",
      url: `postgresql://app@127.0.0.1:${port}/app`,
      async stop() {
        await pgCtl(["-m", "immediate", "-w", "stop"]).catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (started) await pgCtl(["-m", "immediate", "-w", "stop"]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start the local PostgreSQL (apt-get install postgresql): ${(err as Error).message}`, { cause: err });
  }
}

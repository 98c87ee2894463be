// The bastionless command from the package. `npm pack` of a clean copy, installed offline into an
// empty prefix, run from a directory outside the repository that holds only a bastionless.config.json:
// the published files, the installed tree, every --help, --version, completion, and a real tunnel
// against the local cloud (psql through it, Ctrl-C, nothing left).
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { usage } from "../../lib/cli.ts";
import { COMMANDS, topUsage } from "../../lib/bastionless/commands.ts";
import { completionScript } from "../../lib/bastionless/completion.ts";
import { USAGE as ENTRYPOINT_USAGE } from "../../lib/entrypoint/config.ts";
import { auditLogPath } from "../../lib/exec/audit.ts";
import pkg from "../../package.json" with { type: "json" };
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { NPM_ENV, packAndInstall, type InstalledPackage } from "../support/package.ts";
import { REPO, run, type RunResult } from "../support/run.ts";
import { watchDenials } from "../support/iam.ts";
import { seededRows } from "./portforward-harness.ts";
import { TUNNEL_ARGS, expectTunnel } from "./package-harness.ts";

let installed: InstalledPackage;
let cloud: LocalCloud;
let rows: string;
/** The team's repository: nothing but its config file. */
let team: string;
let state: string;

const CONFIG = {
  envs: { stg: { cluster: "stg-main" }, prod: { cluster: "prod-main" } },
  connections: { "stg-db": { env: "stg", target: "stg-db", localPort: 0 } },
};

beforeAll(async () => {
  // packAndInstall blocks this process (npm runs synchronously): started alongside, the local cloud
  // would miss moto_server's ready line for as long, and time out on a loaded machine.
  installed = packAndInstall();
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 300, pendingMs: 300 }, stopTimeoutMs: 10_000 });
  rows = await seededRows(cloud);
  team = mkdtempSync(join(tmpdir(), "bl-team-"));
  state = mkdtempSync(join(tmpdir(), "bl-state-"));
  writeFileSync(join(team, "bastionless.config.json"), JSON.stringify(CONFIG));
}, 120_000);
afterAll(async () => {
  await cloud?.stop();
  installed?.remove();
  for (const dir of [team, state]) if (dir) rmSync(dir, { recursive: true, force: true });
});

// tunnel and exec run as the operator, cleanup as the sweeper, each holding exactly its policy of
// docker/iam/: a refused call fails the test.
afterEach(watchDenials(() => cloud));

/** The environment of a user who installed the package (the operator): its bin on PATH, nothing of ours loaded. */
function userEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  return {
    ...process.env,
    ...cloud.env,
    ...cloud.principalEnv("operator"),
    ...NPM_ENV,
    PATH: installed.path,
    XDG_STATE_HOME: state,
    NODE_OPTIONS: undefined,
    BASTIONLESS_CONFIG: undefined,
    ...extra,
  };
}

function bastionless(args: string[], extra: Record<string, string> = {}): Promise<RunResult> {
  return run("bastionless", args, { cwd: team, env: userEnv(extra) });
}

describe("the package", () => {
  it("publishes the bundle, the README and package.json, nothing else", () => {
    expect(installed.packed.filename).toBe(`bastionless-${pkg.version}.tgz`);
    const paths = installed.packed.files.map((f) => f.path).sort();
    // The entry and the chunks it loads on demand (a program's code only when that program runs).
    const chunks = paths.filter((p) => /^dist\/package\/chunks\/[a-z0-9-]+-[A-Z0-9]{8}\.mjs$/.test(p));
    expect(chunks.length).toBeGreaterThan(0);
    expect(paths).toEqual(["README.md", "dist/package/bastionless.mjs", ...chunks, "package.json"].sort());
    const root = join(installed.prefix, "lib/node_modules/bastionless");
    expect(readFileSync(join(root, "dist/package/bastionless.mjs"), "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
    // No test, local cloud or fixture was bundled in (esbuild names every module it includes), and no path of the build.
    for (const file of paths.filter((p) => p.endsWith(".mjs"))) {
      const text = readFileSync(join(root, file), "utf8");
      expect([file, text.match(/^\/\/ (test|docker|\.git)\/.*$/gm)]).toEqual([file, null]);
      expect([file, text.includes(REPO) || text.includes(installed.dir)]).toEqual([file, false]);
    }
    process.stdout.write(
      `package: ${installed.packed.filename} ${installed.packed.size} bytes packed, ${installed.packed.unpackedSize} unpacked, ${paths.length} files\n`,
    );
  });

  it("installs with no dependency at all: bastionless alone in the prefix, no node_modules inside it", async () => {
    expect(readdirSync(join(installed.prefix, "lib/node_modules"))).toEqual(["bastionless"]);
    expect(existsSync(join(installed.prefix, "lib/node_modules/bastionless/node_modules"))).toBe(false);
    const installedPkg = JSON.parse(readFileSync(join(installed.prefix, "lib/node_modules/bastionless/package.json"), "utf8")) as Record<string, unknown>;
    expect(installedPkg.dependencies).toBeUndefined();
    const ls = await run("npm", ["ls", "--global", "--prefix", installed.prefix, "--all", "--json"], { cwd: team, env: userEnv() });
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout)).toEqual({ name: "lib", dependencies: { bastionless: { version: pkg.version, overridden: false } } });
  });
});

describe("bastionless from PATH, outside the repository", () => {
  it("--version prints the package version; --help the commands", async () => {
    expect(await bastionless(["--version"])).toEqual({ code: 0, signal: null, stdout: `${pkg.version}\n`, stderr: "" });
    expect(await bastionless(["--help"])).toEqual({ code: 0, signal: null, stdout: topUsage(), stderr: "" });
    const bare = await bastionless([]);
    expect([bare.code, bare.stdout, bare.stderr]).toEqual([
      2,
      "",
      "bastionless: missing command: one of tunnel, exec, cleanup, entrypoint, completion. Run bastionless --help for usage.\n",
    ]);
  });

  it("each subcommand's --help is its program's declaration under the subcommand's name", async () => {
    for (const command of COMMANDS) {
      const out = await bastionless([command.name, "--help"]);
      // exec's help names the audit log, under the user's XDG_STATE_HOME.
      const expected = command.spec ? usage(command.spec).replace(auditLogPath(), auditLogPath({ XDG_STATE_HOME: state })) : ENTRYPOINT_USAGE + "\n";
      expect([command.name, out.code, out.stdout]).toEqual([command.name, 0, expected]);
    }
  });

  it("completion bash|zsh prints the scripts; bash completes the config's envs, clusters and connections", async () => {
    expect((await bastionless(["completion", "bash"])).stdout).toBe(completionScript("bash"));
    expect((await bastionless(["completion", "zsh"])).stdout).toBe(completionScript("zsh"));
    const complete = async (...words: string[]) => {
      const script = `source <(bastionless completion bash); COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _bastionless; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const out = await run("bash", ["-c", script], { cwd: team, env: userEnv() });
      expect(out.stderr).toBe("");
      return out.stdout.split("\n").filter(Boolean);
    };
    expect(await complete("bastionless", "")).toEqual(["tunnel", "exec", "cleanup", "entrypoint", "completion", "help"]);
    expect(await complete("bastionless", "tunnel", "--env", "")).toEqual(["prod", "stg"]);
    expect(await complete("bastionless", "exec", "--cluster", "s")).toEqual(["stg-main"]);
    expect(await complete("bastionless", "tunnel", "")).toEqual(["stg-db"]);
    expect(await complete("bastionless", "tunnel", "stg-db", "--local-")).toEqual(["--local-port"]);
    expect(await complete("bastionless", "cleanup", "--env", "=", "s")).toEqual(["stg"]);
  });

  it("zsh's completion function asks the same and hands the candidates to compadd", async () => {
    // compadd and compdef exist only inside zsh's completion system: stand-ins that print what they get.
    const script = `compdef() { print -r -- "compdef $*" }; compadd() { print -r -- "compadd $*" }; _files() { print -r -- _files }
source <(bastionless completion zsh)
words=(bastionless tunnel --env ''); CURRENT=4; _bastionless
words=(bastionless tunnel ''); CURRENT=3; _bastionless
words=(bastionless tunnel --local-port ''); CURRENT=4; _bastionless`;
    const out = await run("zsh", ["-f", "-c", script], { cwd: team, env: userEnv() });
    expect([out.code, out.stderr, out.stdout]).toEqual([0, "", "compdef _bastionless bastionless\ncompadd -- prod stg\ncompadd -- stg-db\n_files\n"]);
  });

  it("tunnel --list lists the config's connections", async () => {
    const out = await bastionless(["tunnel", "--list"]);
    expect(out).toEqual({
      code: 0,
      signal: null,
      stdout: `Connections in ${join(team, "bastionless.config.json")} (open one with: bastionless tunnel <name>):\nNAME    ENV  TARGET  LOCAL PORT  FORWARDS\nstg-db  stg  stg-db  0           -\n`,
      stderr: "",
    });
  });

  it("tunnel --env stg --yes --target stg-db --local-port 0 --json: psql through it, Ctrl-C, exit 0, nothing left", async () => {
    await expectTunnel(cloud, rows, { command: "bastionless", cwd: team, env: userEnv(), state }, TUNNEL_ARGS);
  }, 60_000);

  it("exec, cleanup and entrypoint keep their programs' exit codes and lines", async () => {
    const refused = await bastionless(["exec", "--env", "stg", "--yes", "--client", "bogus"]);
    expect([refused.code, refused.stdout, refused.stderr]).toEqual([2, "", "exec: --client bogus must be one of auto, native, plugin.\n"]);
    const sweep = await bastionless(["cleanup", "--env", "stg", "--dry-run"], cloud.principalEnv("sweeper"));
    expect([sweep.code, sweep.stdout]).toEqual([0, "Nothing to clean up.\n"]);
    const app = await run("bastionless", ["entrypoint", "sh", "-c", "exit 3"], { cwd: team, env: userEnv({ BASTION_DISABLED: "true" }) });
    expect([app.code, app.stdout]).toEqual([3, ""]);
    expect(
      app.stderr
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { event: string }).event),
    ).toEqual(["app_started", "app_exited", "shutdown_started", "exit"]);
  });

  it("tunnel stg-db (the config's connection) opens the same tunnel", async () => {
    await expectTunnel(cloud, rows, { command: "bastionless", cwd: team, env: userEnv(), state }, ["tunnel", "stg-db", "--yes", "--json"]);
  }, 60_000);
});

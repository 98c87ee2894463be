// The shell cases: ECS Exec through each client on a real terminal, plain and on a KMS cluster.
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { executeCommand, getEndpointUrl } from "../../lib/aws/sessions.ts";
import { buildPluginArgs } from "../../lib/session/plugin.ts";
import { discardedSoFar, USER_PAUSE_MS, type Case } from "./context.ts";

// ECS Exec /bin/sh on a real terminal (tmux, 120×30): a command's output, the size after a resize
// (the client sends Size), Ctrl-C reaching the remote command and not the client, `exit` ending the
// client with 0; on a KMS cluster, first the client's "encrypted" line.
export function shellCase(name: string, kms: boolean): Case {
  return {
    name,
    async run(ctx) {
      const target = kms ? ctx.kmsTarget : ctx.target;
      const [, cluster, taskId] = /^ecs:([^_]+)_([^_]+)_/.exec(target)!;
      const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
      let commandLine: string;
      if (ctx.client === "native") {
        commandLine = `node --import tsx ${join(import.meta.dirname, "native-shell.mts")} ${cluster} ${taskId} ${quote(target)}`;
      } else {
        const grant = await executeCommand(ctx.clients.ecs, { cluster, task: taskId, command: "/bin/sh" });
        const endpointUrl = await getEndpointUrl(ctx.clients.ecs, "ECS", ctx.region);
        const { args, env } = buildPluginArgs({
          form: "ecs",
          grant,
          region: ctx.region,
          request: { Target: target },
          endpointUrl,
          pluginVersion: ctx.pluginVersion,
        });
        if (kms) Object.assign(env, ctx.kmsProxyEnv);
        // The session's token never goes on an argv (tmux's, the shell's): the environment is read
        // from a file only this user can read, removed before the plugin starts.
        const envFile = join(mkdtempSync(join(tmpdir(), "conformance-env-")), "env");
        writeFileSync(
          envFile,
          Object.entries(env)
            .map(([k, v]) => `${k}=${quote(String(v))}\n`)
            .join(""),
          { mode: 0o600 },
        );
        commandLine = `(set -a; . ${quote(envFile)}; rm -rf ${quote(dirname(envFile))}; set +a; exec ${[ctx.pluginPath, ...args].map(quote).join(" ")})`;
      }
      const socket = `conformance-${process.pid}`;
      // Async, never execFileSync: the local cloud in this process must keep answering.
      const tmux = async (...a: string[]) =>
        (await promisify(execFile)("tmux", ["-L", socket, ...a], { encoding: "utf8", env: { ...process.env, ...ctx.cloud.env } })).stdout;
      const steps: string[] = [];
      let last = "";
      const discardedBefore = await discardedSoFar(ctx);
      const discarded = async () => {
        const n = (await discardedSoFar(ctx)) - discardedBefore;
        return n ? `; the emulated agent discarded ${n} input messages as early` : "";
      };
      const screenShows = async (pattern: RegExp, timeoutMs: number) => {
        for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 150))) {
          last = await tmux("capture-pane", "-p", "-t", "conf");
          if (pattern.test(last)) return;
        }
        throw new Error(`the screen never showed ${pattern}`);
      };
      // A line's echo can come after its output (typed while the remote was busy, or encrypted on the
      // way): the output may stand right after the prompt.
      const step = async (what: string, keys: string, shows: RegExp, timeoutMs = 20_000) => {
        await tmux("send-keys", "-t", "conf", keys, "Enter");
        await screenShows(shows, timeoutMs);
        steps.push(what);
      };
      try {
        await tmux("new-session", "-d", "-s", "conf", "-x", "120", "-y", "30", "bash --norc --noprofile");
        await tmux("send-keys", "-t", "conf", `${commandLine}; echo "client exit $?"`, "Enter");
        if (kms) {
          await screenShows(/This session is encrypted using AWS KMS\./, 30_000);
          steps.push("KMS");
          await new Promise((r) => setTimeout(r, USER_PAUSE_MS)); // a person reads the line before typing
        }
        // BASTION_ENV is set in the container only: the line comes from the remote shell.
        await step("output", "echo mark-$((6*7))-$BASTION_ENV", /^(# )?mark-42-stg$/m, 30_000);
        await step("size", "stty size", /^(# )?30 120$/m);
        await tmux("resize-window", "-t", "conf", "-x", "100", "-y", "40");
        await new Promise((r) => setTimeout(r, 1000)); // the plugin looks at the size every 500 ms
        await step("resize", "stty size", /^(# )?40 100$/m);
        await tmux("send-keys", "-t", "conf", "sleep 30; echo not-interrupted", "Enter");
        await new Promise((r) => setTimeout(r, 1000));
        await tmux("send-keys", "-t", "conf", "C-c");
        await step("Ctrl-C", "echo after-$((1+1))", /^(# )?after-2$/m, 10_000);
        if (/^not-interrupted$/m.test(last)) throw new Error("the remote sleep was not interrupted");
        await step("exit", "exit", /^client exit \d+$/m);
        const code = Number(/^client exit (\d+)$/m.exec(last)![1]);
        return { outcome: code === 0 ? "pass" : "fail", observed: `${steps.join(", ")} ${code}${await discarded()}` };
      } catch (error) {
        const screen = last.trim().split("\n").slice(-3).join(" | ");
        return {
          outcome: "fail",
          observed: `${steps.join(", ") || "nothing"} worked, then: ${(error as Error).message} (screen: ${JSON.stringify(screen.slice(-200))})${await discarded()}`,
        };
      } finally {
        await tmux("kill-server").catch(() => {});
      }
    },
  };
}

// `make demo`: the main job on the local cloud, narrated for a newcomer — a tunnel to the demo Aurora
// endpoint through a throw-away bastion task, a real psql query through it, the stop, and the local
// cloud's own inventory proving that no task, activation, instance, parameter or session is left.
// Exit 0 only when all of that held; under a minute on a fresh machine after `make setup`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalCloud, type LocalCloud } from "./localcloud/index.ts";
import { leftoversOf, psql, startPortforward, type Portforward } from "./e2e/portforward-harness.ts";

const DEADLINE_MS = 60_000;
const say = (line: string) => process.stdout.write(line + "\n");
const indent = (text: string) =>
  text
    .trimEnd()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");

let cloud: LocalCloud | undefined;
let tunnel: Portforward | undefined;
const stateDir = mkdtempSync(join(tmpdir(), "bastionless-demo-"));
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

async function main(): Promise<number> {
  say("1. Starting the local cloud (moto + our gateway + a real PostgreSQL behind the demo Aurora endpoints)…");
  cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 1500, pendingMs: 1500 }, stopTimeoutMs: 5000 });
  say(`   ready at ${cloud.endpoint} (${elapsed()}): clusters stg-main/prod-main, services stg-app/prod-app, Aurora stg-db/prod-db.`);

  const args = ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0", "--json"];
  say(`2. Opening a tunnel: portforward ${args.join(" ")}`);
  tunnel = startPortforward(cloud, args, { XDG_STATE_HOME: stateDir });
  tunnel.child.stderr!.on("data", (d: Buffer) => process.stdout.write(indent(d.toString()) + "\n"));
  const ready = await tunnel.ready;
  const forward = ready.forwards[0];
  say(`   ready (${elapsed()}): 127.0.0.1:${forward.localPort} → ${forward.host}:${forward.remotePort} via ${ready.target}`);

  const sql = "select id, env, message from greetings order by id";
  say(`3. Querying through the tunnel: psql -h 127.0.0.1 -p ${forward.localPort} -U ${cloud.postgres!.user} ${cloud.postgres!.database} -c "${sql}"`);
  const query = await psql(forward.localPort, cloud.postgres!.user, cloud.postgres!.database, sql);
  if (query.code !== 0 || !query.stdout.trim()) throw new Error(`psql through the tunnel failed (exit ${query.code}): ${query.stderr.trim()}`);
  say(
    indent(
      query.stdout
        .split("\n")
        .filter(Boolean)
        .map((row) => row.split("|").join("  "))
        .join("\n"),
    ),
  );

  say("4. Closing the tunnel (Ctrl-C): the bastion task is stopped and checked for leftovers…");
  tunnel.interrupt();
  const exit = await tunnel.exited;
  if (exit.code !== 0) throw new Error(`portforward exited with code ${exit.code} after Ctrl-C (expected 0)`);

  say(`5. What is left, according to GET ${cloud.endpoint}/_localcloud/state:`);
  const state = (await (await fetch(`${cloud.endpoint}/_localcloud/state`)).json()) as Parameters<typeof leftoversOf>[0];
  const left = leftoversOf(state);
  const counts = Object.entries(left).map(
    ([kind, items]) => `${items.length} ${({ tasks: "running bastion tasks", sessions: "open sessions" } as Record<string, string>)[kind] ?? kind}`,
  );
  say(`   ${counts.join(", ")}`);
  const anything = Object.values(left).some((items) => items.length > 0);
  if (anything) {
    say(indent(JSON.stringify(left, null, 2)));
    throw new Error("something was left behind");
  }
  say(`   Nothing left behind. (${elapsed()})`);
  return 0;
}

async function shutdown(): Promise<void> {
  if (tunnel && tunnel.child.exitCode === null && tunnel.child.signalCode === null) {
    tunnel.child.kill("SIGTERM");
    await tunnel.exited;
  }
  await cloud?.stop();
  rmSync(stateDir, { recursive: true, force: true });
}

const watchdog = setTimeout(() => {
  process.stderr.write(`demo: not done within ${DEADLINE_MS / 1000} s; stopping.\n`);
  void shutdown().finally(() => process.exit(1));
}, DEADLINE_MS);
process.once("SIGINT", () => void shutdown().finally(() => process.exit(130)));

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`demo: ${(error as Error).message}\n`);
} finally {
  clearTimeout(watchdog);
  say("6. Stopping the local cloud.");
  await shutdown();
}
say(code === 0 ? `Demo passed in ${elapsed()}. The same script runs against AWS: make tunnel ENV=stg (see docs/aws.md).` : "Demo FAILED.");
process.exit(code);

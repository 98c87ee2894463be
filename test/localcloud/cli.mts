// npm run localcloud -- [--port 4566] [--world demo|empty] [--region R] [--faults <json>] [--task-delays P,Q] [--no-postgres]
// Starts moto_server and the gateway, prints the lines to paste into a shell, and stops both on
// SIGINT/SIGTERM.
import { parseArgs } from "node:util";
import { startLocalCloud } from "./index.ts";

const USAGE = `Usage: npm run localcloud -- [--port 4566] [--world demo|empty] [--region ap-northeast-1] [--faults '<json>'] [--no-postgres]

  --port         gateway port on 127.0.0.1 (default 4566; 0 picks a free one)
  --world        demo: envs stg/prod with clusters, app services, bastion task definitions, Aurora + PostgreSQL
  --faults       per-operation faults, e.g. '{"ssm:CreateActivation":{"latencyMs":500}}'
  --task-delays  how long RunTask stays PROVISIONING, then PENDING, in ms (default 2000,1000)
  --no-postgres  do not start the local PostgreSQL behind the demo Aurora endpoints`;

function parseFlags() {
  try {
    const { values } = parseArgs({
      options: {
        port: { type: "string", default: "4566" },
        world: { type: "string", default: "empty" },
        region: { type: "string" },
        faults: { type: "string" },
        "task-delays": { type: "string" },
        "no-postgres": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);
    if (values.world !== "demo" && values.world !== "empty") throw new Error(`--world must be demo or empty, got ${values.world}`);
    let taskDelays: { provisioningMs: number; pendingMs: number } | undefined;
    if (values["task-delays"]) {
      const [provisioningMs, pendingMs] = values["task-delays"].split(",").map(Number);
      if (!(provisioningMs >= 0 && pendingMs >= 0)) throw new Error(`--task-delays must be <provisioningMs>,<pendingMs>, got ${values["task-delays"]}`);
      taskDelays = { provisioningMs, pendingMs };
    }
    return {
      port,
      taskDelays,
      world: values.world as "demo" | "empty",
      region: values.region,
      faults: values.faults ? JSON.parse(values.faults) : undefined,
      postgres: values["no-postgres"] ? false : undefined,
    };
  } catch (err) {
    console.error(`localcloud: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

const flags = parseFlags();
const cloud = await startLocalCloud(flags).catch((err) => {
  console.error(`localcloud: could not start: ${err.message}`);
  process.exit(1);
});
console.log("# Paste these lines into another shell: its bastionless programs then talk to this local cloud.");
for (const [k, v] of Object.entries(cloud.env)) console.log(`export ${k}=${v}`);
if (cloud.postgres) console.log(`# PostgreSQL behind the demo Aurora endpoints: ${cloud.postgres.url}`);
console.log(`# admin: curl ${cloud.endpoint}/_localcloud/state — Ctrl-C stops the local cloud`);

let stopping = false;
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 0],
] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.error(`localcloud: ${signal}, stopping`);
    cloud.stop().then(
      () => process.exit(code),
      (err) => {
        console.error(`localcloud: stop failed: ${err.message}`);
        process.exit(1);
      },
    );
  });
}

// The "Done when" AWS CLI v1 session, verbatim, against `npm run localcloud -- --world demo`
// (the CLI script itself), then a clean SIGINT shutdown.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AGENT_BIN, isProcessAlive, run, waitFor } from "./test-helpers.ts";

const REPO = join(import.meta.dirname, "../..");
let cli: ChildProcess;
let env: Record<string, string> = {};
let output = "";
let dir: string;

function descendants(pid: number): number[] {
  const out = execFileSync("ps", ["-eo", "pid=,ppid="]).toString();
  const pairs = out
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number));
  const found: number[] = [];
  const walk = (p: number) => pairs.filter(([, pp]) => pp === p).forEach(([c]) => (found.push(c), walk(c)));
  walk(pid);
  return found;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "localcloud-cli-test-"));
  // `node --import tsx` is what `npm run localcloud` runs, minus tsx's signal-relaying parent
  // process, so the exit code seen here is the script's own.
  cli = spawn(process.execPath, ["--import", "tsx", "test/localcloud/cli.mts", "--port", "0", "--world", "demo", "--task-delays", "6000,2000"], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
  });
  cli.stdout!.on("data", (c) => (output += c));
  cli.stderr!.on("data", (c) => (output += c));
  await waitFor("the export lines", async () => output.includes("# admin:"), 90_000);
  for (const m of output.matchAll(/^export (\w+)=(.*)$/gm)) env[m[1]] = m[2];
}, 120_000);

afterAll(async () => {
  if (cli.exitCode === null) cli.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

async function aws(...args: string[]) {
  const out = await run("aws", [...args, "--output", "json"], env);
  if (out.code !== 0) throw new Error(`aws ${args.join(" ")} exited ${out.code}: ${out.stderr}`);
  return out.stdout.trim() ? JSON.parse(out.stdout) : {};
}

it("prints what a user pastes into a shell", () => {
  expect(env.AWS_ENDPOINT_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(env).toMatchObject({
    AWS_REGION: "ap-northeast-1",
    AWS_DEFAULT_REGION: "ap-northeast-1",
    AWS_ACCESS_KEY_ID: "localcloud",
    AWS_SECRET_ACCESS_KEY: "localcloud",
  });
});

it("answers the AWS CLI v1 like AWS: activations, instances by tag, tasks, DB clusters", async () => {
  const activation = await aws("ssm", "create-activation", "--iam-role", "bastionless-ssm-managed-instance", "--tags", "Key=bastionless:env,Value=stg");
  expect(activation.ActivationId).toMatch(/^[0-9a-f-]{36}$/);
  expect(activation.ActivationCode).toHaveLength(20);
  const reg = await run(AGENT_BIN, ["-register", "-code", activation.ActivationCode, "-id", activation.ActivationId, "-region", "ap-northeast-1", "-y"], {
    ...env,
    SSM_REGISTRATION_FILE: join(dir, "registration"),
  });
  const instanceId = /Managed instance-id: (mi-[0-9a-f]{17})/.exec(reg.stdout)![1];
  const described = await aws("ssm", "describe-activations", "--filters", `FilterKey=ActivationIds,FilterValues=${activation.ActivationId}`);
  expect(described.ActivationList).toEqual([
    expect.objectContaining({ ActivationId: activation.ActivationId, RegistrationsCount: 1, RegistrationLimit: 1, Expired: false }),
  ]);
  const byTag = await aws("ssm", "describe-instance-information", "--filters", "Key=tag:bastionless:env,Values=stg");
  expect(byTag.InstanceInformationList.map((i: any) => [i.InstanceId, i.PingStatus, i.ResourceType])).toEqual([[instanceId, "Online", "ManagedInstance"]]);
  await aws("ssm", "delete-activation", "--activation-id", activation.ActivationId);
  const again = await run("aws", ["ssm", "delete-activation", "--activation-id", activation.ActivationId], env);
  expect(again.code).not.toBe(0);
  expect(again.stderr).toContain("An error occurred (InvalidActivation) when calling the DeleteActivation operation");
  expect((await aws("ssm", "describe-activations")).ActivationList).toEqual([]);

  const network = (await aws("ecs", "describe-services", "--cluster", "stg-main", "--services", "stg-app")).services[0].networkConfiguration;
  const started = await aws(
    "ecs",
    "run-task",
    "--cluster",
    "stg-main",
    "--task-definition",
    "stg-bastion",
    "--launch-type",
    "FARGATE",
    "--enable-execute-command",
    "--network-configuration",
    JSON.stringify(network),
    "--overrides",
    JSON.stringify({ containerOverrides: [{ name: "bastion", command: ["localcloud-app"] }] }),
  );
  const taskArn = started.tasks[0].taskArn;
  expect(started.tasks[0].lastStatus).toBe("PROVISIONING");
  const statuses: string[] = [];
  const running = await waitFor(
    "RUNNING",
    async () => {
      const t = (await aws("ecs", "describe-tasks", "--cluster", "stg-main", "--tasks", taskArn)).tasks[0];
      if (statuses.at(-1) !== t.lastStatus) statuses.push(t.lastStatus);
      return t.lastStatus === "RUNNING" && t;
    },
    60_000,
    200,
  );
  expect(statuses[0]).toBe("PROVISIONING");
  expect(statuses.at(-1)).toBe("RUNNING");
  expect(running.containers[0].runtimeId).toMatch(/^[0-9a-f-]+-\d{10}$/);
  await aws("ecs", "stop-task", "--cluster", "stg-main", "--task", taskArn);
  const stopped = await waitFor(
    "STOPPED",
    async () => {
      const t = (await aws("ecs", "describe-tasks", "--cluster", "stg-main", "--tasks", taskArn)).tasks[0];
      return t.lastStatus === "STOPPED" && t;
    },
    60_000,
    200,
  );
  expect(stopped.stopCode).toBe("UserInitiated");

  const clusters = await aws("rds", "describe-db-clusters");
  expect(clusters.DBClusters.map((c: any) => [c.DBClusterIdentifier, c.Engine, c.Port])).toEqual([
    ["stg-db", "aurora-postgresql", 5432],
    ["prod-db", "aurora-postgresql", 5432],
  ]);
}, 180_000);

it("shuts down cleanly on SIGINT: no moto, no container process, no temp dir", async () => {
  const state: any = await (await fetch(`${env.AWS_ENDPOINT_URL}/_localcloud/state`)).json();
  const dirs: string[] = state.tasks.flatMap((t: any) => t.containers.map((c: any) => c.dir)).filter(Boolean);
  expect(dirs.length).toBeGreaterThan(0);
  const children = descendants(cli.pid!);
  expect(children.length).toBeGreaterThan(2); // moto_server, postgres, containers, the watchdog
  const exited = new Promise<number | null>((r) => cli.once("exit", (code) => r(code)));
  cli.kill("SIGINT");
  expect(await exited).toBe(130);
  expect(output).toContain("localcloud: SIGINT, stopping");
  await waitFor("every child gone", async () => children.every((pid) => !isProcessAlive(pid)), 15_000);
  for (const d of dirs) expect(existsSync(d)).toBe(false);
}, 60_000);

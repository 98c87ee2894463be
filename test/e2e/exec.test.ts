// scripts/exec.mts against the local cloud: a command's output and exit code, the pre-flight report
// with exactly the failing check ✗, the allow-list refusing before any AWS call, the audit log, and
// the plugin's argv. The interactive shell through tmux is in exec-tty.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { CreateClusterCommand, DescribeServicesCommand, ECSClient, RunTaskCommand, StopTaskCommand, type NetworkConfiguration } from "@aws-sdk/client-ecs";
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { SSMClient, TerminateSessionCommand } from "@aws-sdk/client-ssm";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { runningServiceTaskId } from "../support/world.ts";
import { cloudConfig } from "../support/clients.ts";
import { eventually } from "../support/eventually.ts";
import { runScript, startScript, type RunResult } from "../support/run.ts";
import { ROOT_KEY, watchDenials } from "../support/iam.ts";

const ROOT = join(import.meta.dirname, "../..");
const FIXTURES = join(ROOT, "test/fixtures");

let cloud: LocalCloud;
let ecs: ECSClient;
let dir: string;
let network: NetworkConfiguration;
let appTaskId: string;
const started: Array<{ cluster: string; task: string }> = [];

function exec(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runScript("scripts/exec.mts", args, {
    cwd: dir,
    env: { ...cloud.env, ...cloud.principalEnv("operator"), XDG_STATE_HOME: join(dir, "state"), BASTIONLESS_CONFIG: "", ...env },
    timeoutMs: 90_000,
  });
}

async function runTask(cluster: string, options: { exec: boolean; env?: Record<string, string>; taskRoleArn?: string }): Promise<string> {
  const out = await ecs.send(
    new RunTaskCommand({
      cluster,
      taskDefinition: "stg-app",
      launchType: "FARGATE",
      networkConfiguration: network,
      enableExecuteCommand: options.exec,
      overrides: {
        ...(options.env ? { containerOverrides: [{ name: "app", environment: Object.entries(options.env).map(([name, value]) => ({ name, value })) }] } : {}),
        ...(options.taskRoleArn ? { taskRoleArn: options.taskRoleArn } : {}),
      },
    }),
  );
  const arn = out.tasks![0].taskArn!;
  started.push({ cluster, task: arn });
  await eventually(
    async () => ((await cloud.state()).tasks.find((t) => t.taskArn === arn)?.lastStatus === "RUNNING" ? true : undefined),
    60_000,
    `task ${arn} RUNNING`,
  );
  return arn.split("/").at(-1)!;
}

const audit = (state: string) =>
  readFileSync(join(state, "bastionless", "audit.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
const checkLines = (text: string) => text.split("\n").filter((l) => /^ {2}[✓✗?!] /.test(l));
const failed = (text: string) => checkLines(text).filter((l) => l.startsWith("  ✗"));
// A report line as formatReport pads it: titles to the longest, "AWS credentials in the environment".
const line = (mark: string, title: string, detail: string) => `  ${mark} ${title.padEnd(34)}  ${detail}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "exec-e2e-"));
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 100, pendingMs: 100 }, stopTimeoutMs: 1000 });
  ecs = new ECSClient(cloudConfig(cloud));
  const service = await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }));
  network = service.services![0].networkConfiguration!;
  appTaskId = await runningServiceTaskId(cloud);
}, 120_000);

// exec runs as the operator, holding exactly docker/iam/operator.json: any call it is denied fails the test.
afterEach(watchDenials(() => cloud));

afterAll(async () => {
  for (const t of started) await ecs?.send(new StopTaskCommand(t)).catch(() => {});
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("exec", () => {
  it("runs a command non-interactively: its output, exit 0, the command line first in the transcript", async () => {
    const run = await exec(["--env", "stg", "--yes", "--task", appTaskId, "--command", "echo hello; id"]);
    expect(run.stderr).not.toMatch(/error|failed/i);
    expect(run.code).toBe(0);
    // stdout is a pipe: only the remote output, with \n endings; the banner and the session's end on stderr.
    const auditId = /audit ([0-9a-f]{12}) in /.exec(run.stderr)![1];
    expect(run.stdout).toMatch(/^hello\nuid=\d+\(\w+\) gid=\d+[^\r\n]*\n$/);
    expect(run.stderr).toContain(`\n# bastionless exec ${auditId}: echo hello; id\n`);
    expect(run.stderr).toMatch(/\nExiting session with sessionId: ecs-execute-command-[0-9a-f]{17}\.\n/);
    expect(run.stderr).toContain(`Exec into stg-main/${appTaskId}/app: echo hello; id`);
    expect(run.stderr).toContain("The cluster keeps no transcript of this session (exec logging DEFAULT, container app has no awslogs driver).");
  }, 90_000);

  it("wraps a configured exec.shell that is not a bare shell like any other command, and says which config it used", async () => {
    const config = join(dir, "shell-config.json");
    writeFileSync(config, JSON.stringify({ envs: { stg: { exec: { shell: "echo from-config-shell" } } } }));
    const run = await exec(["--env", "stg", "--yes", "--task", appTaskId], { BASTIONLESS_CONFIG: config });
    expect(run.code).toBe(0);
    const auditId = /audit ([0-9a-f]{12}) in /.exec(run.stderr)![1];
    expect(run.stdout).toBe("from-config-shell\n");
    expect(run.stderr).toContain(`\n# bastionless exec ${auditId}: echo from-config-shell\n`);
    expect(run.stderr).toContain(`Using config ${config}, env stg, profile default, region ${cloud.region}, cluster stg-main.`);
  }, 90_000);

  it("finds the service's only running task and its only container without asking", async () => {
    const run = await exec(["--env", "stg", "--yes", "--command", "echo found-$((40+2))"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^found-42\r?$/m);
    expect(run.stderr).toContain("Using cluster stg-main (the only one).");
    expect(run.stderr).toContain("Using service stg-app (the only one).");
    expect(run.stderr).toMatch(new RegExp(`Using task ${appTaskId} {2}started \\S+Z \\(\\d+[smhd] ago\\) {2}stg-app:1 {2}- \\(the only one\\)\\.`));
  }, 90_000);

  it("execute-command disabled on the task: exactly that check is ✗, with its remedy", async () => {
    const taskId = await runTask("stg-main", { exec: false });
    const run = await exec(["--env", "stg", "--yes", "--task", taskId, "--command", "echo nope"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr.split("\n").filter((l) => l.startsWith("exec: "))).toEqual([
      `exec: ecs:ExecuteCommand on task ${taskId} in cluster stg-main failed: Session Manager cannot reach the task's agent (TargetNotConnectedException): task ${taskId} was started without enableExecuteCommand. Fix: run a new task with --enable-execute-command (it cannot be turned on for a running task).`,
    ]);
    expect(failed(run.stderr)).toEqual([line("✗", "Execute command enabled", `task ${taskId} was started without enableExecuteCommand`)]);
    expect(run.stderr).toContain("→ run a new task with --enable-execute-command (it cannot be turned on for a running task)");
    expect(checkLines(run.stderr).length).toBeGreaterThanOrEqual(12);
    expect(run.stderr).toContain("1 check(s) failed (✗): fix those first.");
  }, 120_000);

  it("a stopped ExecuteCommandAgent: exactly that check is ✗, with its remedy", async () => {
    const taskId = await runTask("stg-main", { exec: true, env: { LOCALCLOUD_EXEC_AGENT: "STOPPED" } });
    const run = await exec(["--env", "stg", "--yes", "--task", taskId, "--command", "echo nope"]);
    expect(run.code).toBe(1);
    expect(failed(run.stderr)).toEqual([line("✗", "ExecuteCommandAgent", "the agent in container app is STOPPED")]);
    expect(run.stderr).toContain(`→ stop task ${taskId} so that a new one starts (aws ecs stop-task --cluster stg-main --task ${taskId})`);
    // --check reports the same on stdout without trying ExecuteCommand.
    const check = await exec(["--env", "stg", "--yes", "--task", taskId, "--check"]);
    expect(check.code).toBe(1);
    expect(failed(check.stdout)).toEqual([line("✗", "ExecuteCommandAgent", "the agent in container app is STOPPED")]);
  }, 120_000);

  it("a cluster whose KMS key the caller may not use: exactly that check is ✗, with its remedy, exit 1 with either client", async () => {
    const kms = new KMSClient(cloudConfig(cloud));
    const key = await kms.send(new CreateKeyCommand({ Description: "exec sessions" }));
    const keyArn = key.KeyMetadata!.Arn!;
    await ecs.send(
      new CreateClusterCommand({ clusterName: "kmsexec-main", configuration: { executeCommandConfiguration: { kmsKeyId: keyArn, logging: "DEFAULT" } } }),
    );
    // kmsexec-main is no env's cluster, so the demo task role (docker/iam/'s ECS Exec policy, bound to
    // its env's session targets) may not decrypt its sessions: the task runs with a role that may.
    const iam = new IAMClient(cloudConfig(cloud));
    const role = await iam.send(
      new CreateRoleCommand({
        RoleName: "kmsexec-task",
        AssumeRolePolicyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: "kmsexec-task",
        PolicyName: "exec",
        PolicyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Action: ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
              Resource: "*",
            },
            { Effect: "Allow", Action: "kms:Decrypt", Resource: keyArn },
          ],
        }),
      }),
    );
    iam.destroy();
    const taskId = await runTask("kmsexec-main", { exec: true, taskRoleArn: role.Role!.Arn });
    await cloud.setFaults({
      "kms:GenerateDataKey": {
        failNext: { count: 1000, code: "AccessDeniedException", status: 400, message: "User is not authorized to perform kms:GenerateDataKey" },
      },
    });
    try {
      const run = await exec(["--yes", "--cluster", "kmsexec-main", "--task", taskId, "--command", "echo secret-shell"], {
        ...ROOT_KEY,
        XDG_STATE_HOME: join(dir, "kms-native"),
      });
      expect(run.code).toBe(1);
      expect(run.stdout).not.toContain("secret-shell");
      expect(run.stderr).toMatch(
        /SessionId: ecs-execute-command-[0-9a-f]{17} : ----------ERROR-------\nEncountered error while initiating handshake\. KMSEncryption failed on client/,
      );
      expect(failed(run.stderr)).toEqual([
        line("✗", "KMS key (caller)", `the caller may not use key ${keyArn} (AccessDeniedException: User is not authorized to perform kms:GenerateDataKey)`),
      ]);
      expect(run.stderr).toContain(`→ allow kms:GenerateDataKey on ${keyArn} for the caller, in its IAM policy and in the key policy`);
      expect(audit(join(dir, "kms-native")).at(-1)).toMatchObject({ event: "exec.end", exitCode: 1 });
      // The plugin prints the same ERROR and exits 0 (its KMS call fails the same way): exit 1, the same report, the same audit.
      const plugin = await exec(["--yes", "--cluster", "kmsexec-main", "--task", taskId, "--client", "plugin", "--command", "echo secret-shell"], {
        ...ROOT_KEY,
        PATH: `${FIXTURES}:${process.env.PATH}`,
        FAKE_PLUGIN_KMS_ERROR: "AccessDeniedException: User is not authorized to perform kms:GenerateDataKey",
        XDG_STATE_HOME: join(dir, "kms-plugin"),
      });
      expect(plugin.code).toBe(1);
      expect(plugin.stdout).toMatch(
        /\n\nSessionId: ecs-execute-command-[0-9a-f]{17} : ----------ERROR-------\nEncountered error while initiating handshake\. KMSEncryption failed on client with status 2 error: /,
      );
      expect(failed(plugin.stderr)).toEqual(failed(run.stderr));
      expect(plugin.stderr).toContain(`→ allow kms:GenerateDataKey on ${keyArn} for the caller, in its IAM policy and in the key policy`);
      const records = audit(join(dir, "kms-plugin"));
      expect(records.at(-1)).toMatchObject({ event: "exec.end", exitCode: 1 });
      // The fake never opens the data channel; the real agent would have ended the session after the failed handshake.
      const ssm = new SSMClient(cloudConfig(cloud));
      await ssm.send(new TerminateSessionCommand({ SessionId: records.find((r) => r.event === "exec.session").sessionId }));
      ssm.destroy();
    } finally {
      await cloud.setFaults({});
    }
    // Without the fault the same cluster's encrypted session works.
    const ok = await exec(["--yes", "--cluster", "kmsexec-main", "--task", taskId, "--command", "echo encrypted-$((1+1))"], ROOT_KEY);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^encrypted-2\r?$/m);
  }, 150_000);

  it("refuses a command outside the env's allow-list with exit 2 before any AWS call", async () => {
    const config = join(dir, "allow.json");
    writeFileSync(config, JSON.stringify({ envs: { stg: { exec: { allow: ["/bin/sh", "rails console"] } } } }));
    await cloud.setFaults({ "*:*": { errorRate: 1 } });
    try {
      const refused = await exec(["--env", "stg", "--yes", "--task", appTaskId, "--command", "rails console; rm -rf /"], {
        BASTIONLESS_CONFIG: config,
        XDG_STATE_HOME: join(dir, "refused"),
      });
      expect(refused.code).toBe(2);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toBe(
        `exec: The command "rails console; rm -rf /" is not allowed in env stg; nothing was run. Allowed commands (envs.stg.exec.allow in ${config}): "/bin/sh", "rails console". ` +
          "Pass one of them exactly with --command, or ask for it to be added to the list.\n",
      );
      expect(existsSync(join(dir, "refused"))).toBe(false);
      // The control: an allowed command gets to AWS, where the fault fails it.
      const allowed = await exec(["--env", "stg", "--yes", "--task", appTaskId, "--command", "rails  console"], {
        BASTIONLESS_CONFIG: config,
        AWS_MAX_ATTEMPTS: "1",
      });
      expect(allowed.code).toBe(1);
      expect(allowed.stderr).toMatch(/^exec: ecs:\w+ .*failed: ServerException/m);
    } finally {
      await cloud.setFaults({});
    }
  }, 90_000);

  it("the allow-list cannot be walked around: a line break, no --env, an unknown --env, another env's task — each refused with exit 2 before any AWS call", async () => {
    const config = join(dir, "allow-bound.json");
    writeFileSync(config, JSON.stringify({ envs: { stg: { exec: { allow: ["sh /app/healthcheck.sh", "rails console --sandbox"] } }, prod: {} } }));
    const prodTask = await eventually(
      async () => (await cloud.state()).tasks.find((t) => t.group === "service:prod-app" && t.lastStatus === "RUNNING")?.taskArn,
      60_000,
      "prod-app's task RUNNING",
    );
    const list = `Allowed commands (envs.stg.exec.allow in ${config}): "sh /app/healthcheck.sh", "rails console --sandbox". Pass one of them exactly with --command, or ask for it to be added to the list.`;
    const cases: Array<[string[], string]> = [
      [
        ["--env", "stg", "--task", appTaskId, "--command", "sh\n/app/healthcheck.sh"],
        `exec: The command "sh\\n/app/healthcheck.sh" is not allowed in env stg: it contains a control character (U+000A), which no list entry matches; nothing was run. ${list}`,
      ],
      [
        ["--cluster", "stg-main", "--service", "stg-app", "--command", "echo ARBITRARY"],
        `exec: Missing --env: ${config} restricts exec commands per env (exec.allow in stg). Pass --env with one of prod, stg (or set BASTION_ENV); nothing was run.`,
      ],
      [
        ["--env", "STG", "--cluster", "stg-main", "--command", "echo ARBITRARY"],
        `exec: --env STG is not an env of ${config}, which restricts exec commands per env (exec.allow in stg): pass --env with one of prod, stg; nothing was run.`,
      ],
      [
        ["--env", "stg", "--task", prodTask, "--command", "sh /app/healthcheck.sh"],
        `exec: Cluster prod-main is not env stg's, so env stg's exec rules (${config}) cannot apply to it; nothing was run. Pass --env prod for a task of prod-main, or a task of env stg.`,
      ],
    ];
    await cloud.setFaults({ "*:*": { errorRate: 1 } });
    try {
      for (const [args, line] of cases) {
        const state = join(dir, "bound-refused");
        const run = await exec(["--yes", ...args], { BASTIONLESS_CONFIG: config, BASTION_ENV: "", XDG_STATE_HOME: state, AWS_MAX_ATTEMPTS: "1" });
        expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({ code: 2, stdout: "", stderr: `${line}\n` });
        expect(existsSync(state)).toBe(false);
      }
    } finally {
      await cloud.setFaults({});
    }
    // The control: the listed command on one line, in env stg, on stg's task, reaches the task.
    const ok = await exec(["--yes", "--env", "stg", "--task", appTaskId, "--command", "sh  /app/healthcheck.sh"], {
      BASTIONLESS_CONFIG: config,
      XDG_STATE_HOME: join(dir, "bound-ok"),
    });
    expect(ok.stderr).toContain(`Exec into stg-main/${appTaskId}/app: sh  /app/healthcheck.sh`);
  }, 120_000);

  it("strings from AWS reach the terminal with their control characters escaped: a stoppedReason's OSC 52 and line erase, an error message's escapes", async () => {
    const taskId = await runTask("stg-main", { exec: true });
    const reason = "maintenance\u001b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\u0007\u001b[2K\rall good";
    await ecs.send(new StopTaskCommand({ cluster: "stg-main", task: taskId, reason }));
    await eventually(
      async () => ((await cloud.state()).tasks.find((t) => t.taskId === taskId)?.lastStatus === "STOPPED" ? true : undefined),
      30_000,
      `task ${taskId} STOPPED`,
    );
    const run = await exec(["--env", "stg", "--yes", "--task", taskId, "--command", "echo hi"]);
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n").filter((l) => l.startsWith("exec: "))).toEqual([
      `exec: Task ${taskId} in cluster stg-main is STOPPED (maintenance\\e]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\\x07\\e[2K\\rall good), not RUNNING: pick a running task (leave out --task to choose).`,
    ]);
    // eslint-disable-next-line no-control-regex -- the control characters a terminal would act on: none may reach it
    expect(run.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);

    await cloud.setFaults({
      "ecs:ListClusters": { failNext: { count: 1, code: "InvalidParameterException", status: 400, message: "bad\u001b[2J\u001b]0;owned\u0007 cluster" } },
    });
    try {
      const failed = await exec(["--yes", "--command", "echo hi"], { AWS_MAX_ATTEMPTS: "1" });
      expect(failed.code).toBe(1);
      expect(failed.stderr.split("\n").filter((l) => l.startsWith("exec: "))).toEqual([
        "exec: ecs:ListClusters failed: InvalidParameterException: bad\\e[2J\\e]0;owned\\x07 cluster",
      ]);
      // eslint-disable-next-line no-control-regex -- the control characters a terminal would act on: none may reach it
      expect(failed.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    } finally {
      await cloud.setFaults({});
    }
  }, 120_000);

  it("writes the audit line before the session starts (the remote command reads it), 0600, without secrets", async () => {
    const state = join(dir, "audit-state");
    const path = join(state, "bastionless", "audit.jsonl");
    const secret = "AuditSecretKey0123456789abcdefghijklmnopqr";
    const token = "AuditSessionTokenValue-0123456789";
    const run = await exec(["--env", "stg", "--yes", "--task", appTaskId, "--command", `cat ${path}`], {
      XDG_STATE_HOME: state,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_SESSION_TOKEN: token,
    });
    expect(run.code).toBe(0);
    // What the remote command saw: the start record first (the session record may follow it: the
    // native client writes it once the data channel is open), and no end record.
    const seen = run.stdout
      .replace(/\r/g, "")
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
    expect(seen.map((r) => r.event)).toEqual(expect.arrayContaining(["exec.start"]));
    expect(seen[0].event).toBe("exec.start");
    expect(seen.map((r) => r.event)).not.toContain("exec.end");
    expect(seen[0]).toMatchObject({
      event: "exec.start",
      user: expect.any(String),
      env: "stg",
      region: cloud.region,
      cluster: "stg-main",
      container: "app",
      command: `cat ${path}`,
      client: "auto",
    });
    expect(seen[0].task).toMatch(new RegExp(`task/stg-main/${appTaskId}$`));
    expect(Date.parse(seen[0].time)).toBeLessThanOrEqual(Date.now());

    const text = readFileSync(path, "utf8");
    const records = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records.map((r) => r.event)).toEqual(["exec.start", "exec.session", "exec.end"]);
    expect(new Set(records.map((r) => r.auditId)).size).toBe(1);
    expect(records[1].sessionId).toMatch(/^ecs-execute-command-[0-9a-f]{17}$/);
    const session = (await cloud.state()).sessions.find((s) => s.sessionId === records[1].sessionId)!;
    expect(Date.parse(session.startDate)).toBeGreaterThanOrEqual(Date.parse(records[0].time));
    expect(records[2]).toMatchObject({ event: "exec.end", exitCode: 0, sessionId: records[1].sessionId });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(state, "bastionless")).mode & 0o777).toBe(0o700);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(token);
    expect(text).not.toMatch(/tokenValue|TokenValue|streamUrl/);
  }, 90_000);

  it("a command carrying a secret is warned about, then recorded as typed with its sha256 (a 40-character base64 run included)", async () => {
    const state = join(dir, "secret-state");
    const command = "echo PGPASSWORD=hunter2hunter2 aWQgPiAvdG1wL0hJRERFTl9BVURJVF8wMDAwMDAx";
    const run = await exec(["--env", "stg", "--yes", "--task", appTaskId, "--command", command], { XDG_STATE_HOME: state });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^PGPASSWORD=hunter2hunter2 aWQgPiAvdG1wL0hJRERFTl9BVURJVF8wMDAwMDAx\r?$/m);
    expect(run.stderr.split("\n").filter((l) => l.startsWith("warning: "))).toEqual([
      "warning: The command carries what looks like a PASSWORD=… assignment: it is recorded as typed in the audit log, the cluster's session transcript and CloudTrail. Pass secrets through the task's environment or secrets instead.",
    ]);
    const start = readFileSync(join(state, "bastionless", "audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))[0];
    expect(start).toMatchObject({ event: "exec.start", command, commandSha256: createHash("sha256").update(command).digest("hex") });
    expect(start.sentCommand).toContain(`; ${command}`);
  }, 90_000);

  it("--client plugin launches session-manager-plugin with all seven arguments, ECS Exec's session in the environment", async () => {
    const record = join(dir, "plugin.jsonl");
    const state = join(dir, "plugin-state");
    const run = await exec(["--env", "stg", "--yes", "--task", appTaskId, "--client", "plugin", "--command", "echo via-plugin"], {
      PATH: `${FIXTURES}:${process.env.PATH}`,
      FAKE_PLUGIN_RECORD: record,
      FAKE_PLUGIN_VERSION: "1.2.764.0",
      XDG_STATE_HOME: state,
    });
    expect(run.code).toBe(0);
    const start = readFileSync(record, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .find((e) => e.event === "start");
    const audit = readFileSync(join(state, "bastionless", "audit.jsonl"), "utf8");
    const sessionId = audit
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .find((r) => r.event === "exec.session").sessionId;
    const task = (await cloud.state()).tasks.find((t) => t.taskArn.endsWith(`/${appTaskId}`))!;
    const session = JSON.parse(start.env.AWS_SSM_START_SESSION_RESPONSE);
    expect(Object.keys(session)).toEqual(["sessionId", "streamUrl", "tokenValue"]);
    expect(session.sessionId).toBe(sessionId);
    expect(session.streamUrl).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/v1/data-channel/${sessionId}\\?`));
    expect([start.argv0, ...start.args]).toEqual([
      "session-manager-plugin",
      "AWS_SSM_START_SESSION_RESPONSE",
      cloud.region,
      "StartSession",
      "",
      JSON.stringify({ Target: `ecs:stg-main_${appTaskId}_${task.containers[0].runtimeId}` }),
      cloud.endpoint,
    ]);
    expect(audit).not.toContain(session.tokenValue);
  }, 90_000);

  it("--client plugin stopped by SIGTERM: TerminateSession ends the session, though the plugin only passes Ctrl-C on to the shell", async () => {
    const record = join(dir, "plugin-stop.jsonl");
    const state = join(dir, "plugin-stop-state");
    const running = startScript("scripts/exec.mts", ["--env", "stg", "--yes", "--task", appTaskId, "--client", "plugin", "--command", "sleep 600"], {
      env: {
        ...cloud.env,
        ...cloud.principalEnv("operator"),
        BASTIONLESS_CONFIG: "",
        PATH: `${FIXTURES}:${process.env.PATH}`,
        FAKE_PLUGIN_RECORD: record,
        FAKE_PLUGIN_SHELL_HOLD_MS: "600000",
        XDG_STATE_HOME: state,
      },
      timeoutMs: 90_000,
    });
    const events = () =>
      existsSync(record)
        ? readFileSync(record, "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l))
        : [];
    await eventually(async () => (events().some((e) => e.event === "shell") ? true : undefined), 60_000, "the plugin's shell session");
    running.child.kill("SIGTERM");
    const { code, stderr } = await running.result;
    expect(code).toBe(143);
    expect(events().filter((e) => e.event === "signal")).toEqual([{ event: "signal", signal: "SIGINT" }]);
    const audit = readFileSync(join(state, "bastionless", "audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const sessionId = audit.find((r) => r.event === "exec.session").sessionId;
    expect(audit.at(-1)).toMatchObject({ event: "exec.end", sessionId, exitCode: 143 });
    expect((await cloud.state()).sessions.find((s) => s.sessionId === sessionId)?.status).toBe("Terminated");
    expect(stderr).toContain(`session ${sessionId} terminated`);
  }, 90_000);

  it("--client plugin without the plugin: the report's only ✗ is the plugin, before any session", async () => {
    const run = await exec(["--env", "stg", "--yes", "--task", appTaskId, "--client", "plugin", "--command", "echo x"], {
      PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
      XDG_STATE_HOME: join(dir, "noplugin"),
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("exec: session-manager-plugin is not installed");
    expect(failed(run.stderr)).toEqual([line("✗", "session-manager-plugin", "session-manager-plugin is not installed (not on PATH)")]);
  }, 90_000);
});

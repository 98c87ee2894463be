// The rules every program shares, held by each program: the config file named by BASTIONLESS_CONFIG,
// the region's fallbacks, which clusters belong to an env, and `make cleanup` as docs/cleanup-orphans.md gives it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateActivationCommand, DeleteActivationCommand, DeregisterManagedInstanceCommand, SSMClient } from "@aws-sdk/client-ssm";
import { CreateClusterCommand, CreateServiceCommand, DescribeServicesCommand, ECSClient } from "@aws-sdk/client-ecs";
import { startLocalCloud, type LocalCloud } from "../localcloud/index.ts";
import { ourTags } from "../../lib/constants.ts";
import { run, runScript } from "../support/run.ts";
import { heartbeat, registerInstance } from "../support/orphans.ts";
import { startPortforward, stateHome } from "./portforward-harness.ts";
import { ROOT_KEY } from "../support/iam.ts";
import { cloudConfig } from "../support/clients.ts";

const OTHER_REGION = "eu-west-3";
const NO_REGION = { AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined, AWS_PROFILE: undefined, AWS_CONFIG_FILE: "/nonexistent/aws-config" };

let cloud: LocalCloud;
let dir: string;
const sdk = (region: string) => cloudConfig(cloud, { region, maxAttempts: 3 });
/** A directory with no bastionless.config.json, below no repository: only BASTIONLESS_CONFIG can name one. */
const elsewhere = () => mkdtempSync(join(dir, "cwd-"));
const teamConfig = (config: object) => {
  const path = join(mkdtempSync(join(dir, "team-")), "team.json");
  writeFileSync(path, JSON.stringify(config));
  return path;
};
// As root: these rules are about where a program looks (another region, a cluster named only in a
// config file, another account's task, env qa), which the rendered policies (bound to the demo
// region, the envs' cluster patterns and the envs stg and prod) would refuse before the rule is reached.
const env = (extra: Record<string, string | undefined> = {}) => ({
  ...cloud.env,
  ...ROOT_KEY,
  XDG_STATE_HOME: join(dir, "state"),
  BASTIONLESS_CONFIG: undefined,
  ...extra,
});
const lastLine = (text: string) => text.trim().split("\n").at(-1);

/** A fresh activation tagged as ours in `region`: what cleanup-orphans must see to prove where it looked. */
async function activationIn(region: string): Promise<{ id: string; remove(): Promise<void> }> {
  const ssm = new SSMClient(sdk(region));
  const tags = ourTags("stg", "host:shared-rules");
  const out = await ssm.send(
    new CreateActivationCommand({
      IamRole: "bastionless-ssm-managed-instance",
      RegistrationLimit: 1,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  return {
    id: out.ActivationId!,
    remove: async () => {
      await ssm.send(new DeleteActivationCommand({ ActivationId: out.ActivationId! })).catch(() => {});
      ssm.destroy();
    },
  };
}

type SweepReport = {
  plan: { actions: Array<{ id: string; region: string; action: string; reason: string }>; kept: Array<{ id: string; region: string; reason: string }> };
};
const regionOf = (report: SweepReport, id: string) => [...report.plan.actions, ...report.plan.kept].find((d) => d.id === id)?.region;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "shared-rules-"));
  cloud = await startLocalCloud({ world: "demo", postgres: false, taskDelays: { provisioningMs: 50, pendingMs: 50 }, stopTimeoutMs: 2000 });
}, 120_000);
afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("BASTIONLESS_CONFIG names the config of every program", () => {
  it("portforward takes its cluster from the named file (and its failed run leaves no empty session log)", async () => {
    const state = mkdtempSync(join(dir, "state-"));
    const r = await runScript("scripts/portforward.mts", ["--env", "stg", "--yes", "--target", "stg-db", "--json"], {
      cwd: elsewhere(),
      env: env({ XDG_STATE_HOME: state, BASTIONLESS_CONFIG: teamConfig({ envs: { stg: { cluster: "from-team-config" } } }) }),
    });
    expect(readdirSync(join(state, "bastionless"))).toEqual([]);
    expect({ code: r.code, line: lastLine(r.stderr) }).toEqual({
      code: 2,
      line: "portforward: Cluster from-team-config was not found: check --cluster (or the config's cluster; leave both out to pick one of the env's clusters), --profile and --region.",
    });
  }, 60_000);

  it("exec takes its cluster from the named file", async () => {
    const r = await runScript("scripts/exec.mts", ["--env", "stg", "--yes", "--command", "true"], {
      cwd: elsewhere(),
      env: env({ BASTIONLESS_CONFIG: teamConfig({ envs: { stg: { cluster: "from-team-config" } } }) }),
    });
    expect({ code: r.code, line: lastLine(r.stderr) }).toEqual({
      code: 2,
      line: `exec: Cluster from-team-config was not found in ${cloud.region}: check --cluster, --profile and --region.`,
    });
  }, 60_000);

  it("cleanup-orphans takes its region from the named file", async () => {
    const activation = await activationIn(OTHER_REGION);
    try {
      const r = await runScript("scripts/cleanup-orphans.mts", ["--env", "stg", "--dry-run", "--json"], {
        cwd: elsewhere(),
        env: env({ ...NO_REGION, BASTIONLESS_CONFIG: teamConfig({ envs: { stg: { region: OTHER_REGION } } }) }),
      });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(regionOf(JSON.parse(r.stdout), activation.id)).toBe(OTHER_REGION);
    } finally {
      await activation.remove();
    }
  }, 60_000);

  it("the entrypoint takes its region from the named file, and searches for none", async () => {
    const base = { ...NO_REGION, BASTION_ENV: "stg", BASTION_IAM_ROLE: undefined, BASTIONLESS_CONFIG: undefined };
    const withFile = await runScript("scripts/entrypoint.mts", ["true"], {
      cwd: elsewhere(),
      env: { ...base, BASTIONLESS_CONFIG: teamConfig({ envs: { stg: { region: OTHER_REGION } } }) },
    });
    expect(withFile.code).toBe(2);
    expect(withFile.stderr).toContain(
      "The entrypoint's configuration has a problem; no CMD was started: (1) BASTION_IAM_ROLE is missing: the IAM role for the managed instance, trusted by ssm.amazonaws.com",
    );
    // A bastionless.config.json in the working directory is not read: inside a container, only a named file counts.
    const cwd = elsewhere();
    writeFileSync(join(cwd, "bastionless.config.json"), JSON.stringify({ envs: { stg: { region: OTHER_REGION } } }));
    const without = await runScript("scripts/entrypoint.mts", ["true"], { cwd, env: base });
    expect(without.stderr).toContain("has 2 problems; no CMD was started: (1) BASTION_IAM_ROLE is missing");
    expect(without.stderr).toContain("(2) BASTION_REGION (or AWS_REGION) is missing: the region to register in");
  }, 60_000);
});

describe("--region falls back to AWS_REGION, then AWS_DEFAULT_REGION, in every program", () => {
  const onlyDefault = () => env({ ...NO_REGION, AWS_DEFAULT_REGION: OTHER_REGION });

  it("portforward", async () => {
    const r = await runScript("scripts/portforward.mts", ["--env", "stg", "--yes", "--target", "stg-db", "--json"], { cwd: elsewhere(), env: onlyDefault() });
    expect({ code: r.code, line: lastLine(r.stderr) }).toEqual({
      code: 2,
      line: `portforward: No ECS cluster matches env stg in ${OTHER_REGION} (clusters: none): pass --cluster, or check --env, --profile and --region.`,
    });
  }, 60_000);

  it("exec", async () => {
    const r = await runScript("scripts/exec.mts", ["--env", "stg", "--yes", "--cluster", "stg-main", "--command", "true"], {
      cwd: elsewhere(),
      env: onlyDefault(),
    });
    expect({ code: r.code, line: lastLine(r.stderr) }).toEqual({
      code: 2,
      line: `exec: Cluster stg-main was not found in ${OTHER_REGION}: check --cluster, --profile and --region.`,
    });
  }, 60_000);

  it("cleanup-orphans", async () => {
    const activation = await activationIn(OTHER_REGION);
    try {
      const r = await runScript("scripts/cleanup-orphans.mts", ["--env", "stg", "--dry-run", "--json"], { cwd: elsewhere(), env: onlyDefault() });
      expect(r.code).toBe(0);
      expect(regionOf(JSON.parse(r.stdout), activation.id)).toBe(OTHER_REGION);
    } finally {
      await activation.remove();
    }
  }, 60_000);

  it("the entrypoint", async () => {
    const r = await runScript("scripts/entrypoint.mts", ["true"], {
      cwd: elsewhere(),
      env: { ...NO_REGION, AWS_DEFAULT_REGION: OTHER_REGION, BASTION_ENV: "stg", BASTION_IAM_ROLE: undefined, BASTIONLESS_CONFIG: undefined },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("has a problem; no CMD was started: (1) BASTION_IAM_ROLE is missing");
  }, 60_000);

  it("AWS_REGION beats AWS_DEFAULT_REGION, and --region beats both", async () => {
    const both = env({ ...NO_REGION, AWS_REGION: OTHER_REGION, AWS_DEFAULT_REGION: cloud.region });
    const fromEnv = await runScript("scripts/exec.mts", ["--env", "stg", "--yes", "--cluster", "stg-main", "--command", "true"], {
      cwd: elsewhere(),
      env: both,
    });
    expect(lastLine(fromEnv.stderr)).toBe(`exec: Cluster stg-main was not found in ${OTHER_REGION}: check --cluster, --profile and --region.`);
    const fromFlag = await runScript("scripts/exec.mts", ["--env", "stg", "--yes", "--cluster", "stg-main", "--region", "us-west-2", "--command", "true"], {
      cwd: elsewhere(),
      env: both,
    });
    expect(lastLine(fromFlag.stderr)).toBe("exec: Cluster stg-main was not found in us-west-2: check --cluster, --profile and --region.");
  }, 60_000);
});

describe("the sweeper judges an instance's task only where it can see it", () => {
  it("keeps a live instance whose task runs in another region or account, and one whose task is gone but whose agent still pings", async () => {
    const ssm = new SSMClient(sdk(cloud.region));
    const account = "123456789012";
    const sources = {
      otherRegion: `arn:aws:ecs:${OTHER_REGION}:${account}:task/stg-main/0f0e0d0c0b0a09080706050403020100`,
      otherAccount: `arn:aws:ecs:${cloud.region}:210987654321:task/stg-main/1f1e1d1c1b1a19181716151413121110`,
      gone: `arn:aws:ecs:${cloud.region}:${account}:task/stg-main/2f2e2d2c2b2a29282726252423222120`,
    };
    const ids: Record<string, string> = {};
    const beat = setInterval(() => void Promise.all(Object.values(ids).map((id) => heartbeat(cloud, id))), 200);
    try {
      for (const [name, source] of Object.entries(sources)) {
        const tags = Object.entries(ourTags("stg", source)).map(([Key, Value]) => ({ Key, Value }));
        const activation = await ssm.send(new CreateActivationCommand({ IamRole: "bastionless-ssm-managed-instance", RegistrationLimit: 1, Tags: tags }));
        ids[name] = await registerInstance(cloud, activation);
        await heartbeat(cloud, ids[name]);
        await ssm.send(new DeleteActivationCommand({ ActivationId: activation.ActivationId! }));
      }
      const r = await runScript("scripts/cleanup-orphans.mts", ["--env", "stg", "--yes", "--json", "--stale-after", "0s"], { cwd: elsewhere(), env: env() });
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout) as SweepReport;
      const reasons = Object.fromEntries(Object.entries(ids).map(([name, id]) => [name, report.plan.kept.find((k) => k.id === id)?.reason]));
      expect(reasons).toEqual({
        otherRegion: `online; its task is not judged: it runs in region ${OTHER_REGION}, and this sweep is of ${cloud.region}`,
        otherAccount: `online; its task is not judged: it belongs to account 210987654321, and this sweep runs as ${account}`,
        gone: "online although its ECS task no longer exists: its agent still runs somewhere; kept until it stops pinging",
      });
      expect((await cloud.state()).instances.map((i) => i.instanceId)).toEqual(expect.arrayContaining(Object.values(ids)));

      // DescribeTasks failing for an instance's task is said on that item, and the sweep goes on (env qa:
      // no cluster of its own, so the inventory's task listing makes no DescribeTasks call of its own).
      const qaTags = Object.entries(ourTags("qa", `arn:aws:ecs:${cloud.region}:${account}:task/qa-main/3f3e3d3c3b3a39383736353433323130`)).map(
        ([Key, Value]) => ({ Key, Value }),
      );
      const qaActivation = await ssm.send(new CreateActivationCommand({ IamRole: "bastionless-ssm-managed-instance", RegistrationLimit: 1, Tags: qaTags }));
      ids.qa = await registerInstance(cloud, qaActivation);
      await heartbeat(cloud, ids.qa);
      await cloud.setFaults({
        "ecs:DescribeTasks": { failNext: { count: 5, code: "AccessDeniedException", status: 400, message: "not authorized (injected)" } },
      });
      const denied = await runScript("scripts/cleanup-orphans.mts", ["--env", "qa", "--dry-run", "--json", "--stale-after", "0s"], {
        cwd: elsewhere(),
        env: env(),
      });
      await cloud.setFaults({});
      expect({ code: denied.code, err: denied.stderr }).toEqual({ code: 0, err: "" });
      const report2 = JSON.parse(denied.stdout) as SweepReport;
      expect(report2.plan.kept.find((k) => k.id === ids.qa)?.reason).toMatch(
        /^online; its task is not judged: ecs:DescribeTasks on cluster qa-main was denied: allow "ecs:DescribeTasks"/,
      );
      expect(report2.plan.actions.find((a) => a.id === qaActivation.ActivationId)).toMatchObject({ action: "delete" });
    } finally {
      clearInterval(beat);
      for (const id of Object.values(ids)) await ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: id })).catch(() => {});
      ssm.destroy();
    }
  }, 60_000);
});

describe("a bastion launched in a cluster whose name carries the env anywhere", () => {
  it("is found and stopped past its TTL by cleanup-orphans --env stg, and make cleanup ENV=stg ARGS=--yes applies the plan", async () => {
    // main-stg-eu: stg is a word of the name, but neither its prefix nor its suffix.
    const ecs = new ECSClient(sdk(cloud.region));
    try {
      const service = (await ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }))).services![0];
      await ecs.send(new CreateClusterCommand({ clusterName: "main-stg-eu" }));
      await ecs.send(
        new CreateServiceCommand({
          cluster: "main-stg-eu",
          serviceName: "eu-app",
          taskDefinition: "stg-app",
          desiredCount: 0,
          launchType: "FARGATE",
          networkConfiguration: service.networkConfiguration,
        }),
      );
    } finally {
      ecs.destroy();
    }
    const state = stateHome();
    // As root: the operator policy's cluster patterns (<env>, <env>-*, *-<env>) do not reach a cluster
    // with the env in the middle of its name, which the code's env rule accepts (reported, not hidden).
    const tunnel = startPortforward(
      cloud,
      [
        "--env",
        "stg",
        "--cluster",
        "main-stg-eu",
        "--service",
        "eu-app",
        "--task-definition",
        "stg-bastion",
        "--target",
        "stg-db",
        "--local-port",
        "0",
        "--keep",
        "--json",
      ],
      { XDG_STATE_HOME: state.dir, ...ROOT_KEY },
    );
    let taskArn: string;
    try {
      await tunnel.ready;
      // Before RunTask: which config (none here) and which account coordinates the launch uses.
      expect(tunnel.stderr()).toContain(`Using no config file, env stg, profile default, region ${cloud.region}, cluster main-stg-eu.\n`);
      tunnel.interrupt();
      expect((await tunnel.exited).code).toBe(0);
      const kept = (await cloud.state()).tasks.filter((t) => t.cluster === "main-stg-eu" && t.lastStatus === "RUNNING");
      expect(kept).toHaveLength(1);
      taskArn = kept[0].taskArn;
    } finally {
      state.remove();
    }

    const dry = await runScript("scripts/cleanup-orphans.mts", ["--env", "stg", "--task-ttl", "0s", "--dry-run", "--json"], { cwd: elsewhere(), env: env() });
    expect(dry.code).toBe(0);
    const planned = (JSON.parse(dry.stdout) as SweepReport).plan.actions.find((a) => a.id === taskArn);
    expect(planned).toMatchObject({ action: "stop" });

    // Exactly the command docs/cleanup-orphans.md, `make help` and portforward's leftover line give.
    const make = await run("make", ["-s", "cleanup", "ENV=stg", "ARGS=--yes --task-ttl 0s"], { env: env() });
    expect(make.stderr).not.toMatch(/contradict|Error|make: \*\*\*/);
    expect(make.code).toBe(0);
    expect(make.stdout).toMatch(/Done: \d+ succeeded, 0 failed\./);
    expect(make.stderr).toContain(`Using no config file, env stg, profile default, region ${cloud.region}.`);
    const task = (await cloud.state()).tasks.find((t) => t.taskArn === taskArn);
    expect(task?.desiredStatus).toBe("STOPPED");
  }, 180_000);
});

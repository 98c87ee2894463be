// Seeds a local cloud with what the sweeper must remove (and what it must leave alone), the way
// crashes and forgotten tunnels leave them: used for the sweeper's e2e tests and its benchmark.
import { randomBytes, randomUUID } from "node:crypto";
import { DescribeServicesCommand, RunTaskCommand } from "@aws-sdk/client-ecs";
import { CreateActivationCommand, DeleteActivationCommand, PutParameterCommand } from "@aws-sdk/client-ssm";
import type { LocalCloud } from "../localcloud/index.ts";
import { cloudClients } from "./clients.ts";
import { ourTags } from "../../lib/constants.ts";

export interface SeededWorld {
  orphans: { tasks: string[]; instances: string[]; parameters: string[]; activations: string[] };
  healthy: { tasks: string[]; instances: string[]; parameters: string[] };
  lookAlikes: { tasks: string[]; instances: string[]; parameters: string[]; activations: string[] };
  /** Stops the heartbeats that keep the healthy instances Online. */
  stop(): void;
}

export interface SeedOptions {
  /** Orphans of each kind. */
  orphans: number;
  healthy: number;
  /** Which orphan kinds to create (default all). */
  kinds?: Array<"tasks" | "instances" | "parameters" | "activations">;
  env?: string;
  /**
   * Simulated hours between the orphans and the healthy ones (default 13). 0 keeps the cloud's clock
   * at real time: SDK clients see no skew, so errors are not retried as skew corrections.
   */
  ageHours?: number;
}

const awsTags = (tags: Record<string, string>) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

/** What the fake agent does: the unsigned RegisterManagedInstance call. */
export async function registerInstance(cloud: LocalCloud, activation: { ActivationId?: string; ActivationCode?: string }): Promise<string> {
  const res = await fetch(cloud.endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "AmazonSSM.RegisterManagedInstance" },
    body: JSON.stringify({
      ActivationId: activation.ActivationId,
      ActivationCode: activation.ActivationCode,
      PublicKey: randomBytes(300).toString("base64"),
      PublicKeyType: "Rsa",
      Fingerprint: randomUUID(),
    }),
  });
  const body = (await res.json()) as { InstanceId?: string; message?: string };
  if (!res.ok || !body.InstanceId) throw new Error(`RegisterManagedInstance failed: ${res.status} ${JSON.stringify(body)}`);
  return body.InstanceId;
}

export async function heartbeat(cloud: LocalCloud, instanceId: string): Promise<void> {
  await fetch(`${cloud.endpoint}/_localcloud/agent/heartbeat`, { method: "POST", body: JSON.stringify({ instanceId, pid: process.pid, cwd: "/", env: {} }) });
}

async function inBatches<T>(count: number, size: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += size) out.push(...(await Promise.all(Array.from({ length: Math.min(size, count - i) }, (_, j) => make(i + j)))));
  return out;
}

export async function seedSweepWorld(cloud: LocalCloud, options: SeedOptions): Promise<SeededWorld> {
  const env = options.env ?? "stg";
  const kinds = new Set(options.kinds ?? ["tasks", "instances", "parameters", "activations"]);
  const n = options.orphans;
  const { ssm, ecs } = cloudClients(cloud);
  const cluster = `${env}-main`;
  const service = (await ecs.send(new DescribeServicesCommand({ cluster, services: [`${env}-app`] }))).services![0];
  const runTasks = async (count: number, startedBy: string, tags: Record<string, string> | undefined) =>
    inBatches(Math.ceil(count / 10), 5, async (i) => {
      const out = await ecs.send(
        new RunTaskCommand({
          cluster,
          taskDefinition: `${env}-app`,
          launchType: "FARGATE",
          count: Math.min(10, count - i * 10),
          startedBy,
          networkConfiguration: service.networkConfiguration,
          overrides: { containerOverrides: [{ name: "app", command: ["sleep", "86400"] }] },
          ...(tags ? { tags: Object.entries(tags).map(([key, value]) => ({ key, value })) } : {}),
        }),
      );
      return out.tasks!.map((t) => t.taskArn!);
    }).then((x) => x.flat());
  const register = async (count: number, tags: Record<string, string> | undefined) => {
    const activation = await ssm.send(
      new CreateActivationCommand({ IamRole: `${env}-ssm-role`, RegistrationLimit: Math.max(1, count), ...(tags ? { Tags: awsTags(tags) } : {}) }),
    );
    const ids = await inBatches(count, 20, () => registerInstance(cloud, activation));
    await ssm.send(new DeleteActivationCommand({ ActivationId: activation.ActivationId }));
    return ids;
  };

  // The old and the dead, then 13 hours pass.
  const orphans = { tasks: [] as string[], instances: [] as string[], parameters: [] as string[], activations: [] as string[] };
  const lookAlikes = { tasks: [] as string[], instances: [] as string[], parameters: [] as string[], activations: [] as string[] };
  if (kinds.has("tasks")) orphans.tasks = await runTasks(n, "bastionless:alice", ourTags(env, "host:laptop"));
  if (kinds.has("instances")) orphans.instances = await register(n, ourTags(env, "host:crashed"));
  if (kinds.has("activations")) {
    orphans.activations = await inBatches(
      n,
      20,
      async () =>
        (await ssm.send(new CreateActivationCommand({ IamRole: `${env}-ssm-role`, RegistrationLimit: 1, Tags: awsTags(ourTags(env, "host:never-started")) })))
          .ActivationId!,
    );
  }
  lookAlikes.tasks = await runTasks(1, "bastionless:carol", undefined);
  lookAlikes.instances = await register(1, { team: "payments", [`${"bastionless:env"}`]: env });
  lookAlikes.activations = [
    (await ssm.send(new CreateActivationCommand({ IamRole: `${env}-ssm-role`, Tags: awsTags({ "bastionless:env": env }) }))).ActivationId!,
  ];
  if (options.ageHours !== 0) await cloud.advanceClock((options.ageHours ?? 13) * 3_600_000);

  // Healthy bastions: a recent task, its Online instance and its parameter.
  const healthy = { tasks: [] as string[], instances: [] as string[], parameters: [] as string[] };
  healthy.tasks = options.healthy ? await runTasks(options.healthy, "bastionless:bob", ourTags(env, "ecs")) : [];
  healthy.instances = await inBatches(healthy.tasks.length, 10, async (i) => (await register(1, ourTags(env, healthy.tasks[i])))[0]);
  healthy.parameters = await inBatches(healthy.tasks.length, 10, async (i) => {
    const name = `/${env}/portforward/instances/${healthy.tasks[i].split("/").pop()}`;
    await ssm.send(new PutParameterCommand({ Name: name, Value: healthy.instances[i], Type: "String", Tags: awsTags(ourTags(env, healthy.tasks[i])) }));
    return name;
  });
  const beat = () => Promise.all(healthy.instances.map((id) => heartbeat(cloud, id))).catch(() => undefined);
  await beat();
  const timer = setInterval(beat, 1000);

  const fakeInstanceId = () => `mi-${randomBytes(9).toString("hex").slice(0, 17)}`;
  if (kinds.has("parameters")) {
    orphans.parameters = await inBatches(n, 10, async (i) => {
      const name = `/${env}/portforward/instances/gone-${i}`;
      await ssm.send(new PutParameterCommand({ Name: name, Value: fakeInstanceId(), Type: "String", Tags: awsTags(ourTags(env, `host:gone-${i}`)) }));
      return name;
    });
  }
  const manual = `/${env}/portforward/instances/manual`;
  await ssm.send(new PutParameterCommand({ Name: manual, Value: fakeInstanceId(), Type: "String" }));
  lookAlikes.parameters = [manual];

  ssm.destroy();
  ecs.destroy();
  return { orphans, healthy, lookAlikes, stop: () => clearInterval(timer) };
}

// GET /_localcloud/state: the whole inventory, so tests can prove what exists and what leaked.
import type { CloudContext } from "./context.ts";
import { isAlive } from "./containers/process.ts";
import { isExpired } from "./ssm/activations.ts";
import { pingStatus } from "./ssm/ping.ts";
import { currentStatus } from "./ssm/sessions.ts";
import type { SessionState } from "./dataplane/types.ts";

const tagMap = (tags: { Key: string; Value: string }[]) => Object.fromEntries(tags.map((t) => [t.Key, t.Value]));
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

async function listParameters(ctx: CloudContext, region: string) {
  const names: { Name: string; Type: string; Version: number; LastModifiedDate: number }[] = [];
  let token: string | undefined;
  do {
    const out = await ctx.moto.json("ssm", "AmazonSSM.DescribeParameters", { MaxResults: 50, NextToken: token }, region);
    names.push(...(out.Parameters ?? []));
    token = out.NextToken;
  } while (token);
  const values = new Map<string, string>();
  for (let i = 0; i < names.length; i += 10) {
    const out = await ctx.moto.json("ssm", "AmazonSSM.GetParameters", { Names: names.slice(i, i + 10).map((p) => p.Name), WithDecryption: true }, region);
    for (const p of out.Parameters ?? []) values.set(p.Name, p.Value);
  }
  return names.map((p) => ({ name: p.Name, type: p.Type, version: p.Version, value: values.get(p.Name) }));
}

export interface Inventory {
  region: string;
  now: string;
  activations: {
    activationId: string;
    iamRole: string;
    defaultInstanceName?: string;
    registrationLimit: number;
    registrationsCount: number;
    expired: boolean;
    expirationDate: string;
    tags: Record<string, string>;
  }[];
  instances: {
    instanceId: string;
    pingStatus: string;
    lastPingDateTime: string;
    activationId: string;
    name?: string;
    tags: Record<string, string>;
    agentPid?: number;
  }[];
  parameters: { name: string; type: string; version: number; value?: string }[];
  tasks: {
    taskArn: string;
    taskId: string;
    cluster: string;
    family: string;
    lastStatus: string;
    desiredStatus: string;
    stopCode?: string;
    stoppedReason?: string;
    startedBy?: string;
    group?: string;
    enableExecuteCommand: boolean;
    containers: { name: string; image: string; runtimeId: string; pid?: number; alive: boolean; exitCode?: number; argv?: string[]; dir?: string }[];
  }[];
  sessions: {
    sessionId: string;
    target: string;
    documentName: string;
    kind: string;
    status: string;
    startDate: string;
    endDate?: string;
    dataPlane?: SessionState;
  }[];
}

export async function readInventory(ctx: CloudContext, region: string): Promise<Inventory> {
  ctx.tick();
  const now = ctx.clock.now();
  const live = new Map(ctx.dataPlane.sessions().map((s) => [s.sessionId, s]));
  return {
    region,
    now: new Date(now).toISOString(),
    activations: [...ctx.state.activations.values()]
      .filter((a) => a.region === region)
      .map((a) => ({
        activationId: a.id,
        iamRole: a.iamRole,
        defaultInstanceName: a.defaultInstanceName,
        registrationLimit: a.registrationLimit,
        registrationsCount: a.registrationsCount,
        expired: isExpired(a, now),
        expirationDate: iso(a.expirationMs)!,
        tags: tagMap(a.tags),
      })),
    instances: [...ctx.state.instances.values()]
      .filter((m) => m.region === region)
      .map((m) => ({
        instanceId: m.id,
        pingStatus: pingStatus(ctx, m),
        lastPingDateTime: iso(m.lastPingMs)!,
        activationId: m.activationId,
        name: m.name,
        tags: tagMap(m.tags),
        agentPid: m.agent?.pid,
      })),
    parameters: await listParameters(ctx, region),
    tasks: [...ctx.state.tasks.values()]
      .filter((t) => t.region === region)
      .map((t) => ({
        taskArn: t.arn,
        taskId: t.id,
        cluster: t.clusterName,
        family: t.family,
        lastStatus: t.lastStatus,
        desiredStatus: t.desiredStatus,
        stopCode: t.stopCode,
        stoppedReason: t.stoppedReason,
        startedBy: t.startedBy,
        group: t.group,
        enableExecuteCommand: t.enableExecuteCommand,
        containers: t.containers.map((c) => ({
          name: c.name,
          image: c.image,
          runtimeId: c.runtimeId,
          pid: c.process?.pid,
          alive: isAlive(c),
          exitCode: c.exitCode,
          argv: c.argv,
          dir: c.dir,
        })),
      })),
    sessions: [...ctx.state.sessions.values()]
      .filter((s) => s.region === region)
      .map((s) => ({
        sessionId: s.sessionId,
        target: s.target,
        documentName: s.documentName,
        kind: s.kind,
        status: currentStatus(ctx, s),
        startDate: iso(s.startMs)!,
        endDate: iso(s.endMs),
        dataPlane: live.get(s.sessionId),
      })),
  };
}

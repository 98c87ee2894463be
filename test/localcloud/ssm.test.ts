// SSM through SDK v3 against a real local cloud: activations, the fake agent's registration and
// heartbeats, DescribeInstanceInformation, tags, and sessions.
import {
  AddTagsToResourceCommand,
  CreateActivationCommand,
  DeleteActivationCommand,
  DeregisterManagedInstanceCommand,
  DescribeActivationsCommand,
  DescribeInstanceInformationCommand,
  DescribeSessionsCommand,
  ListTagsForResourceCommand,
  PutParameterCommand,
  GetParameterCommand,
  RemoveTagsFromResourceCommand,
  ResumeSessionCommand,
  SSMClient,
  StartSessionCommand,
  TerminateSessionCommand,
} from "@aws-sdk/client-ssm";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCloud, type LocalCloud } from "./index.ts";
import { AGENT_BIN, run, sdkConfig, startAgent, waitFor } from "./test-helpers.ts";

let cloud: LocalCloud;
let ssm: SSMClient;
let dir: string;

beforeAll(async () => {
  cloud = await startLocalCloud({ connectionLostAfterMs: 1500 });
  ssm = new SSMClient(sdkConfig(cloud));
  dir = mkdtempSync(join(tmpdir(), "localcloud-ssm-test-"));
});

afterAll(async () => {
  ssm?.destroy();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const DAY = 24 * 3600 * 1000;

async function register(name: string, extra: Partial<ConstructorParameters<typeof CreateActivationCommand>[0]> = {}) {
  const a = await ssm.send(new CreateActivationCommand({ IamRole: "ssm-role", ...extra }));
  const file = join(dir, name, "registration");
  const out = await run(AGENT_BIN, ["-register", "-code", a.ActivationCode!, "-id", a.ActivationId!, "-region", cloud.region, "-y"], {
    ...cloud.env,
    SSM_REGISTRATION_FILE: file,
  });
  return { activation: a, file, out };
}

describe("activations", () => {
  it("defaults to 1 registration and a 24 h expiry, and expires with the clock", async () => {
    const before = Date.now();
    const { ActivationId } = await ssm.send(new CreateActivationCommand({ IamRole: "ssm-role", DefaultInstanceName: "box", Tags: [{ Key: "k", Value: "v" }] }));
    const list = await ssm.send(new DescribeActivationsCommand({ Filters: [{ FilterKey: "ActivationIds", FilterValues: [ActivationId!] }] }));
    expect(list.ActivationList).toHaveLength(1);
    const a = list.ActivationList![0];
    expect(a).toMatchObject({
      ActivationId,
      IamRole: "ssm-role",
      DefaultInstanceName: "box",
      RegistrationLimit: 1,
      RegistrationsCount: 0,
      Expired: false,
      Tags: [{ Key: "k", Value: "v" }],
    });
    expect(a.ExpirationDate!.getTime() - before).toBeGreaterThanOrEqual(DAY - 5000);
    expect(a.ExpirationDate!.getTime() - before).toBeLessThanOrEqual(DAY + 5000);
    await cloud.advanceClock(DAY + 1000);
    const after = await ssm.send(new DescribeActivationsCommand({ Filters: [{ FilterKey: "ActivationIds", FilterValues: [ActivationId!] }] }));
    expect(after.ActivationList![0].Expired).toBe(true);
    await ssm.send(new DeleteActivationCommand({ ActivationId }));
  });

  it("validates like AWS", async () => {
    await expect(ssm.send(new CreateActivationCommand({ IamRole: "r", ExpirationDate: new Date(Date.now() + 40 * DAY) }))).rejects.toMatchObject({
      name: "InvalidParameters",
    });
    await expect(ssm.send(new CreateActivationCommand({ IamRole: "r", RegistrationLimit: 1001 }))).rejects.toMatchObject({ name: "ValidationException" });
    await expect(ssm.send(new DeleteActivationCommand({ ActivationId: "not-a-uuid" }))).rejects.toMatchObject({ name: "InvalidActivationId" });
    await expect(ssm.send(new DeleteActivationCommand({ ActivationId: "00000000-0000-4000-8000-000000000000" }))).rejects.toMatchObject({
      name: "InvalidActivation",
    });
    await expect(ssm.send(new DescribeActivationsCommand({ Filters: [{ FilterKey: "Nope" as any, FilterValues: ["x"] }] }))).rejects.toMatchObject({
      name: "InvalidFilter",
    });
  });

  it("pages with MaxResults and NextToken", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await ssm.send(new CreateActivationCommand({ IamRole: "paging-role" }))).ActivationId!);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const out = await ssm.send(
        new DescribeActivationsCommand({ MaxResults: 2, NextToken: token, Filters: [{ FilterKey: "IamRole", FilterValues: ["paging-role"] }] }),
      );
      seen.push(...out.ActivationList!.map((a) => a.ActivationId!));
      token = out.NextToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
    await expect(ssm.send(new DescribeActivationsCommand({ NextToken: "garbage" }))).rejects.toMatchObject({ name: "InvalidNextToken" });
    for (const id of ids) await ssm.send(new DeleteActivationCommand({ ActivationId: id }));
  });
});

describe("the fake agent and managed instances", () => {
  it("registers: file 0600 with sorted keys and no newline, the real success line, tags copied", async () => {
    const { activation, file, out } = await register("reg", { Tags: [{ Key: "bastionless:env", Value: "stg" }], DefaultInstanceName: "web-1" });
    expect(out.code).toBe(0);
    const m =
      /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{4} INFO Successfully registered the instance with AWS SSM using Managed instance-id: (mi-[0-9a-f]{17})\n$/.exec(
        out.stdout,
      );
    expect(m).not.toBeNull();
    const id = m![1];
    expect(readFileSync(file, "utf8")).toBe(`{"ManagedInstanceID":"${id}","Region":"${cloud.region}"}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const info = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: "InstanceIds", Values: [id] }] }));
    expect(info.InstanceInformationList![0]).toMatchObject({
      InstanceId: id,
      PingStatus: "Online",
      ActivationId: activation.ActivationId,
      IamRole: "ssm-role",
      Name: "web-1",
      ResourceType: "ManagedInstance",
      SourceType: "AWS::SSM::ManagedInstance",
      SourceId: id,
    });
    const tags = await ssm.send(new ListTagsForResourceCommand({ ResourceType: "ManagedInstance", ResourceId: id }));
    expect(tags.TagList).toEqual([{ Key: "bastionless:env", Value: "stg" }]);
    const activations = await ssm.send(new DescribeActivationsCommand({ Filters: [{ FilterKey: "ActivationIds", FilterValues: [activation.ActivationId!] }] }));
    expect(activations.ActivationList![0].RegistrationsCount).toBe(1);

    // RegistrationLimit 1: a second registration fails with the agent's failure line and exit 1.
    const again = await run(AGENT_BIN, ["-register", "-code", activation.ActivationCode!, "-id", activation.ActivationId!, "-region", cloud.region, "-y"], {
      ...cloud.env,
      SSM_REGISTRATION_FILE: join(dir, "reg2", "registration"),
    });
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{4} ERROR Registration failed due to InvalidActivation: /);
    await ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: id }));
    await expect(ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: id }))).rejects.toMatchObject({ name: "InvalidInstanceId" });
  });

  it("is Online while the agent heartbeats and ConnectionLost after it is killed", async () => {
    const { out, file } = await register("hb");
    const id = /mi-[0-9a-f]{17}/.exec(out.stdout)![0];
    const agent = startAgent({ ...cloud.env, SSM_REGISTRATION_FILE: file });
    try {
      const ping = async () =>
        (await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: "InstanceIds", Values: [id] }] }))).InstanceInformationList![0].PingStatus;
      // Well past connectionLostAfterMs (1.5 s) the agent keeps it Online.
      await new Promise((r) => setTimeout(r, 3000));
      expect(await ping()).toBe("Online");
      expect((await cloud.state()).instances.find((i) => i.instanceId === id)?.agentPid).toBe(agent.pid);
      agent.kill("SIGKILL");
      await waitFor("ConnectionLost", async () => (await ping()) === "ConnectionLost", 15_000);
      const online = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: "PingStatus", Values: ["Online"] }] }));
      expect(online.InstanceInformationList!.map((i) => i.InstanceId)).not.toContain(id);
    } finally {
      agent.kill("SIGKILL");
      await ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: id }));
    }
  });

  it("filters by tag, pages 5..50 (default 10), refuses mixed tag filters", async () => {
    const a = await ssm.send(new CreateActivationCommand({ IamRole: "ssm-role", RegistrationLimit: 12, Tags: [{ Key: "team", Value: "blue" }] }));
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const out = await run(AGENT_BIN, ["-register", "-code", a.ActivationCode!, "-id", a.ActivationId!, "-region", cloud.region, "-y"], {
        ...cloud.env,
        SSM_REGISTRATION_FILE: join(dir, `many-${i}`, "registration"),
      });
      ids.push(/mi-[0-9a-f]{17}/.exec(out.stdout)![0]);
    }
    await ssm.send(new AddTagsToResourceCommand({ ResourceType: "ManagedInstance", ResourceId: ids[0], Tags: [{ Key: "role", Value: "odd" }] }));
    const byTag = (Filters: any) => ssm.send(new DescribeInstanceInformationCommand({ Filters }));
    const first = await byTag([{ Key: "tag:team", Values: ["blue"] }]);
    expect(first.InstanceInformationList).toHaveLength(10);
    expect(first.NextToken).toBeDefined();
    const second = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: "tag:team", Values: ["blue"] }], NextToken: first.NextToken }));
    expect([...first.InstanceInformationList!, ...second.InstanceInformationList!].map((i) => i.InstanceId)).toEqual(ids);
    expect(second.NextToken).toBeUndefined();
    expect((await byTag([{ Key: "tag:role", Values: ["odd"] }])).InstanceInformationList!.map((i) => i.InstanceId)).toEqual([ids[0]]);
    expect((await byTag([{ Key: "tag-key", Values: ["role"] }])).InstanceInformationList).toHaveLength(1);
    await ssm.send(new RemoveTagsFromResourceCommand({ ResourceType: "ManagedInstance", ResourceId: ids[0], TagKeys: ["role"] }));
    expect((await byTag([{ Key: "tag:role", Values: ["odd"] }])).InstanceInformationList).toEqual([]);
    await expect(
      byTag([
        { Key: "tag:team", Values: ["blue"] },
        { Key: "PingStatus", Values: ["Online"] },
      ]),
    ).rejects.toMatchObject({ name: "InvalidFilterKey" });
    await expect(byTag([{ Key: "Colour", Values: ["x"] }])).rejects.toMatchObject({ name: "InvalidFilterKey" });
    await expect(ssm.send(new DescribeInstanceInformationCommand({ MaxResults: 4 }))).rejects.toMatchObject({ name: "ValidationException" });
    await expect(ssm.send(new ListTagsForResourceCommand({ ResourceType: "ManagedInstance", ResourceId: "mi-00000000000000000" }))).rejects.toMatchObject({
      name: "InvalidResourceId",
    });
    for (const id of ids) await ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: id }));
  });

  it("forwards Parameter Store to moto", async () => {
    await ssm.send(new PutParameterCommand({ Name: "/stg/portforward/instances/x", Value: "mi-0123456789abcdef0", Type: "String" }));
    expect((await ssm.send(new GetParameterCommand({ Name: "/stg/portforward/instances/x" }))).Parameter?.Value).toBe("mi-0123456789abcdef0");
    expect((await cloud.state()).parameters).toContainEqual(expect.objectContaining({ name: "/stg/portforward/instances/x", value: "mi-0123456789abcdef0" }));
  });
});

describe("sessions", () => {
  it("starts, describes, resumes and terminates a port session on an Online instance", async () => {
    const { out, file } = await register("sess");
    const id = /mi-[0-9a-f]{17}/.exec(out.stdout)![0];
    const agent = startAgent({ ...cloud.env, SSM_REGISTRATION_FILE: file });
    try {
      const s = await ssm.send(
        new StartSessionCommand({
          Target: id,
          DocumentName: "AWS-StartPortForwardingSessionToRemoteHost",
          Parameters: { host: ["db.example.internal"], portNumber: ["5432"], localPortNumber: ["15432"] },
        }),
      );
      expect(s.SessionId).toMatch(/^localcloud-[0-9a-f]{17}$/);
      expect(s.StreamUrl).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/v1/data-channel/${s.SessionId}\\?role=publish_subscribe`));
      expect(s.TokenValue!.length).toBeGreaterThan(20);
      const active = await ssm.send(new DescribeSessionsCommand({ State: "Active", Filters: [{ key: "Target", value: id }] }));
      expect(active.Sessions!.map((x) => [x.SessionId, x.DocumentName, x.Target])).toEqual([[s.SessionId, "AWS-StartPortForwardingSessionToRemoteHost", id]]);
      const resumed = await ssm.send(new ResumeSessionCommand({ SessionId: s.SessionId }));
      expect(resumed.SessionId).toBe(s.SessionId);
      expect((await ssm.send(new TerminateSessionCommand({ SessionId: s.SessionId }))).SessionId).toBe(s.SessionId);
      const history = await ssm.send(new DescribeSessionsCommand({ State: "History", Filters: [{ key: "SessionId", value: s.SessionId! }] }));
      expect(history.Sessions![0]).toMatchObject({ SessionId: s.SessionId, Status: "Terminated" });
      expect(history.Sessions![0].EndDate).toBeInstanceOf(Date);
      await expect(ssm.send(new ResumeSessionCommand({ SessionId: s.SessionId }))).rejects.toMatchObject({ name: "DoesNotExistException" });
      expect((await cloud.state()).sessions.find((x) => x.sessionId === s.SessionId)?.status).toBe("Terminated");
    } finally {
      agent.kill("SIGKILL");
    }
    await expect(ssm.send(new StartSessionCommand({ Target: id, DocumentName: "No-Such-Document" }))).rejects.toMatchObject({ name: "InvalidDocument" });
    await ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: id }));
    await expect(ssm.send(new StartSessionCommand({ Target: id }))).rejects.toMatchObject({ name: "TargetNotConnected", message: `${id} is not connected.` });
  });
});

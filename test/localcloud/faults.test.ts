// Faults and limits: throttling answered like AWS (and survived by adaptive retries), 5xx error
// rates, latency, fail-next-N, set at start, through setFaults and through the admin API.
import { CreateClusterCommand, ECSClient, ListClustersCommand } from "@aws-sdk/client-ecs";
import { DescribeDBClustersCommand, RDSClient } from "@aws-sdk/client-rds";
import { CreateActivationCommand, DescribeActivationsCommand, SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCloud, type LocalCloud } from "./index.ts";
import { sdkConfig } from "./test-helpers.ts";

let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await startLocalCloud({ faults: { "ecs:CreateCluster": { latencyMs: 400 } } });
});

afterAll(async () => {
  await cloud?.stop();
});

async function settle<T>(calls: Promise<T>[]) {
  const results = await Promise.allSettled(calls);
  return {
    ok: results.filter((r) => r.status === "fulfilled").length,
    errors: results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason.name as string),
  };
}

it("applies the faults given to startLocalCloud from the start", async () => {
  expect(await (await fetch(`${cloud.endpoint}/_localcloud/faults`)).json()).toEqual({ "ecs:CreateCluster": { latencyMs: 400 } });
  const ecs = new ECSClient(sdkConfig(cloud));
  try {
    const t = Date.now();
    await ecs.send(new CreateClusterCommand({ clusterName: "from-the-start" }));
    expect(Date.now() - t).toBeGreaterThanOrEqual(400);
  } finally {
    ecs.destroy();
  }
});

describe("throttling", () => {
  it("5 TPS: a burst of 50 answers ThrottlingException to the excess", async () => {
    await cloud.setFaults({ "ssm:DescribeActivations": { throttle: { tps: 5 } } });
    const ssm = new SSMClient(sdkConfig(cloud));
    try {
      const started = Date.now();
      const { ok, errors } = await settle(Array.from({ length: 50 }, () => ssm.send(new DescribeActivationsCommand({}))));
      const elapsedS = (Date.now() - started) / 1000;
      // The bucket starts with 5 tokens and refills at 5/s while the burst is in flight.
      expect(ok).toBeGreaterThanOrEqual(5);
      expect(ok).toBeLessThanOrEqual(5 + Math.ceil(elapsedS * 5));
      expect(errors).toEqual(Array(50 - ok).fill("ThrottlingException"));
    } finally {
      ssm.destroy();
    }
  });

  it("with adaptive retries and enough attempts all 50 succeed, in no less than 9 s", async () => {
    await cloud.setFaults({ "ssm:DescribeActivations": { throttle: { tps: 5 } } });
    const ssm = new SSMClient(sdkConfig(cloud, { retryMode: "adaptive", maxAttempts: 60 }));
    try {
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 50 }, () => ssm.send(new DescribeActivationsCommand({}))));
      const elapsed = Date.now() - started;
      expect(results).toHaveLength(50);
      const attempts = results.reduce((n, r) => n + (r.$metadata.attempts ?? 1), 0);
      expect(attempts).toBeGreaterThan(50); // some calls were throttled and retried
      expect(elapsed).toBeGreaterThanOrEqual(9000); // (50 - 5) / 5 TPS
    } finally {
      ssm.destroy();
    }
  }, 180_000);

  it("throttles Query services with the Query error shape", async () => {
    await cloud.setFaults({ "rds:DescribeDBClusters": { throttle: { tps: 1, burst: 1 } } });
    const rds = new RDSClient(sdkConfig(cloud));
    try {
      const { ok, errors } = await settle(Array.from({ length: 6 }, () => rds.send(new DescribeDBClustersCommand({}))));
      expect(ok).toBeGreaterThanOrEqual(1);
      expect(ok).toBeLessThanOrEqual(2);
      expect(new Set(errors)).toEqual(new Set(["Throttling"]));
    } finally {
      rds.destroy();
    }
  });
});

describe("errors and latency", () => {
  it("errorRate 1 answers 500 InternalServerError; 0.5 fails about half", async () => {
    const ssm = new SSMClient(sdkConfig(cloud));
    try {
      await cloud.setFaults({ "ssm:*": { errorRate: 1 } });
      const err = await ssm.send(new DescribeActivationsCommand({})).catch((e) => e);
      expect(err.name).toBe("InternalServerError");
      expect(err.$metadata.httpStatusCode).toBe(500);
      await cloud.setFaults({ "ssm:DescribeActivations": { errorRate: 0.5 } });
      const { ok, errors } = await settle(Array.from({ length: 40 }, () => ssm.send(new DescribeActivationsCommand({}))));
      expect(ok).toBeGreaterThan(0);
      expect(errors.length).toBeGreaterThan(0);
      expect(new Set(errors)).toEqual(new Set(["InternalServerError"]));
    } finally {
      ssm.destroy();
    }
  });

  it("fails the next N calls, then recovers; a named error can be injected", async () => {
    const ssm = new SSMClient(sdkConfig(cloud));
    try {
      await cloud.setFaults({ "ssm:CreateActivation": { failNext: 2 } });
      const names: string[] = [];
      for (let i = 0; i < 3; i++)
        names.push(
          await ssm.send(new CreateActivationCommand({ IamRole: "r" })).then(
            () => "ok",
            (e) => e.name,
          ),
        );
      expect(names).toEqual(["InternalServerError", "InternalServerError", "ok"]);
      await cloud.setFaults({
        "ssm:CreateActivation": {
          failNext: { count: 1, code: "AccessDeniedException", status: 400, message: "not authorized to perform: ssm:CreateActivation" },
        },
      });
      await expect(ssm.send(new CreateActivationCommand({ IamRole: "r" }))).rejects.toMatchObject({ name: "AccessDeniedException" });
      await expect(ssm.send(new CreateActivationCommand({ IamRole: "r" }))).resolves.toBeDefined();
    } finally {
      ssm.destroy();
    }
  });

  it("adds latency to one operation and not to others", async () => {
    await cloud.setFaults({ "ecs:CreateCluster": { latencyMs: 400 } });
    const ecs = new ECSClient(sdkConfig(cloud));
    try {
      let t = Date.now();
      await ecs.send(new CreateClusterCommand({ clusterName: "latency-test" }));
      expect(Date.now() - t).toBeGreaterThanOrEqual(400);
      t = Date.now();
      await ecs.send(new ListClustersCommand({}));
      expect(Date.now() - t).toBeLessThan(400);
    } finally {
      ecs.destroy();
    }
  });

  it("throttleRate throttles a random share; a seed replays the same sequence; /faults/injected counts by kind", async () => {
    const ssm = new SSMClient({ ...sdkConfig(cloud), maxAttempts: 1 });
    type Injected = { controlPlane: { throttled: number; serverErrors: number }; dataChannel: unknown };
    const injected = async () => (await (await fetch(`${cloud.endpoint}/_localcloud/faults/injected`)).json()) as Injected;
    const outcomes = async () => {
      const seen: string[] = [];
      for (let i = 0; i < 40; i++)
        seen.push(
          await ssm.send(new DescribeActivationsCommand({})).then(
            () => "ok",
            (e) => e.name,
          ),
        );
      return seen;
    };
    try {
      const before = await injected();
      await cloud.setFaults({ seed: 42, "ssm:DescribeActivations": { throttleRate: 0.2, errorRate: 0.1 } });
      const first = await outcomes();
      await cloud.setFaults({ seed: 42, "ssm:DescribeActivations": { throttleRate: 0.2, errorRate: 0.1 } });
      expect(await outcomes()).toEqual(first);
      const throttled = first.filter((o) => o === "ThrottlingException").length;
      const failed = first.filter((o) => o === "InternalServerError").length;
      expect(throttled).toBeGreaterThan(0);
      expect(throttled).toBeLessThan(20);
      expect(failed).toBeGreaterThan(0);
      expect(new Set(first)).toEqual(new Set(["ok", "ThrottlingException", "InternalServerError"]));
      const after = await injected();
      expect(after.controlPlane.throttled - before.controlPlane.throttled).toBe(2 * throttled);
      expect(after.controlPlane.serverErrors - before.controlPlane.serverErrors).toBe(2 * failed);
      expect(after.dataChannel).toEqual({
        dropped: 0,
        duplicated: 0,
        reordered: 0,
        closed: 0,
        rateLimited: 0,
        handshakeDiscarded: 0,
        agentDuplicates: 0,
        deniedHosts: 0,
        newStreamUrls: 0,
      });
    } finally {
      await cloud.setFaults({});
      ssm.destroy();
    }
  });

  it("GET /_localcloud/inflight counts calls not yet answered and how long none has been in progress", async () => {
    type InFlight = { calls: number; idleMs: number };
    const inflight = async () => (await (await fetch(`${cloud.endpoint}/_localcloud/inflight`)).json()) as InFlight;
    const ssm = new SSMClient(sdkConfig(cloud));
    try {
      await cloud.setFaults({ "ssm:DescribeActivations": { latencyMs: 600 } });
      const call = ssm.send(new DescribeActivationsCommand({}));
      await new Promise((r) => setTimeout(r, 200));
      expect(await inflight()).toEqual({ calls: 1, idleMs: 0 });
      await call;
      const after = await inflight();
      expect(after.calls).toBe(0);
      expect(after.idleMs).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 300));
      expect((await inflight()).idleMs).toBeGreaterThanOrEqual(300);
    } finally {
      await cloud.setFaults({});
      ssm.destroy();
    }
  });

  it("is set and read through POST/GET /_localcloud/faults, and rejects malformed specs", async () => {
    const spec = { "ssm:DescribeActivations": { errorRate: 1 } };
    const res = await fetch(`${cloud.endpoint}/_localcloud/faults`, { method: "POST", body: JSON.stringify(spec) });
    expect(res.status).toBe(200);
    expect(await (await fetch(`${cloud.endpoint}/_localcloud/faults`)).json()).toEqual(spec);
    const ssm = new SSMClient(sdkConfig(cloud));
    await expect(ssm.send(new DescribeActivationsCommand({}))).rejects.toMatchObject({ name: "InternalServerError" });
    ssm.destroy();
    const bad = await fetch(`${cloud.endpoint}/_localcloud/faults`, { method: "POST", body: JSON.stringify({ DescribeActivations: {} }) });
    expect(bad.status).toBe(400);
    await fetch(`${cloud.endpoint}/_localcloud/faults`, { method: "POST", body: "{}" });
    expect(await (await fetch(`${cloud.endpoint}/_localcloud/faults`)).json()).toEqual({});
  });
});

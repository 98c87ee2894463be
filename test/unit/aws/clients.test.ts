import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeActivationsCommand } from "@aws-sdk/client-ssm";
import { clientConfig, createClients } from "../../../lib/aws/clients.ts";
import { call } from "../../../lib/aws/errors.ts";

describe("clientConfig", () => {
  it("defaults to standard retries with 3 attempts and no fixed region", () => {
    expect(clientConfig({}, {})).toEqual({ retryMode: "standard", maxAttempts: 3 });
  });

  it("passes profile, region, adaptive mode and timeouts through", () => {
    expect(clientConfig({ profile: "stg", region: "ap-northeast-1", retryMode: "adaptive", maxAttempts: 8, requestTimeoutMs: 2000 }, {})).toEqual({
      profile: "stg",
      region: "ap-northeast-1",
      retryMode: "adaptive",
      maxAttempts: 8,
      requestHandler: { requestTimeout: 2000, connectionTimeout: 2000 },
    });
  });

  it("lets AWS_MAX_ATTEMPTS and AWS_RETRY_MODE from the user's environment win over defaults", () => {
    expect(clientConfig({ maxAttempts: 3 }, { AWS_MAX_ATTEMPTS: "10", AWS_RETRY_MODE: "adaptive" })).toEqual({ retryMode: "adaptive", maxAttempts: 10 });
  });
});

describe("createClients", () => {
  it("builds each client once, on first use, with the region asked for", async () => {
    const clients = createClients({ region: "eu-west-1" });
    expect(clients.ssm).toBe(clients.ssm);
    expect(await clients.ecs.config.region()).toBe("eu-west-1");
    expect(await clients.ssm.config.maxAttempts()).toBe(3);
    clients.destroy();
  });

  it("leaves endpoints to the SDK, which reads AWS_ENDPOINT_URL_<SERVICE> itself", async () => {
    const saved = { ...process.env };
    process.env.AWS_ENDPOINT_URL_SSM = "http://127.0.0.1:4566";
    try {
      const clients = createClients({ region: "ap-northeast-1" });
      const endpoint = await clients.ssm.config.endpoint?.();
      const resolved = endpoint ?? (await (clients.ssm.config as any).endpointProvider({ Region: "ap-northeast-1", Endpoint: "http://127.0.0.1:4566" }));
      expect(JSON.stringify(resolved)).toContain("127.0.0.1");
      clients.destroy();
    } finally {
      process.env = saved;
    }
  });

  it("names its profile in the remedy for its expired credentials", async () => {
    const server = createServer((_, res) => {
      res.writeHead(400, { "content-type": "application/x-amz-json-1.1", "x-amzn-errortype": "ExpiredTokenException" });
      res.end(JSON.stringify({ __type: "ExpiredTokenException", message: "The security token included in the request is expired" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const dir = mkdtempSync(join(tmpdir(), "bastionless-profile-"));
    writeFileSync(join(dir, "credentials"), "[dev]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n");
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_SHARED_CREDENTIALS_FILE: join(dir, "credentials"),
      AWS_CONFIG_FILE: join(dir, "config"),
      AWS_ENDPOINT_URL_SSM: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    });
    delete process.env.AWS_PROFILE;
    const clients = createClients({ profile: "dev", region: "eu-west-1" });
    try {
      await expect(call({ action: "ssm:DescribeActivations" }, () => clients.ssm.send(new DescribeActivationsCommand({})))).rejects.toThrow(
        "ssm:DescribeActivations failed: the AWS credentials have expired. Refresh them (aws sso login --profile dev) and try again.",
      );
    } finally {
      clients.destroy();
      process.env = saved;
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

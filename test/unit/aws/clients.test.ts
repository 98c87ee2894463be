import { describe, expect, it } from "vitest";
import { clientConfig, createClients } from "../../../lib/aws/clients.ts";

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
});

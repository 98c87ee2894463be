import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { findSource } from "../../../lib/entrypoint/source.ts";

const TASK_ARN = "arn:aws:ecs:eu-west-1:123456789012:task/stg-main/0123456789abcdef0123456789abcdef";
let server: Server | undefined;
const requests: Array<{ url?: string; flavor?: string }> = [];

async function serve(handler: (url: string) => { status: number; body: string }): Promise<string> {
  server = createServer((req, res) => {
    requests.push({ url: req.url, flavor: req.headers["metadata-flavor"] as string | undefined });
    const { status, body } = handler(req.url ?? "");
    res.writeHead(status).end(body);
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  requests.length = 0;
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

describe("findSource", () => {
  it("ECS: the task ARN from metadata v4 is the source, the task id names the parameter", async () => {
    const host = await serve((url) =>
      url === "/v4/abc/task" ? { status: 200, body: JSON.stringify({ TaskARN: TASK_ARN, Cluster: "stg-main" }) } : { status: 404, body: "" },
    );
    const source = await findSource({ env: { ECS_CONTAINER_METADATA_URI_V4: `http://${host}/v4/abc` }, hostname: () => "ip-10-0-0-1" });
    expect(source).toEqual({ platform: "ecs", source: TASK_ARN, sourceId: "0123456789abcdef0123456789abcdef" });
  });

  it("Cloud Run: the instance id from the metadata server, asked with Metadata-Flavor: Google", async () => {
    const host = await serve((url) => (url === "/computeMetadata/v1/instance/id" ? { status: 200, body: "00bf4bf02d5b1a2c3d\n" } : { status: 404, body: "" }));
    const source = await findSource({ env: { K_SERVICE: "api", GCE_METADATA_HOST: host }, hostname: () => "localhost" });
    expect(source).toEqual({ platform: "cloudrun", source: "cloudrun:api/00bf4bf02d5b1a2c3d", sourceId: "00bf4bf02d5b1a2c3d" });
    expect(requests[0].flavor).toBe("Google");
  });

  it("elsewhere: the hostname", async () => {
    expect(await findSource({ env: {}, hostname: () => "build-box" })).toEqual({ platform: "host", source: "host:build-box", sourceId: "build-box" });
  });

  it("falls back to the hostname, saying why, when the metadata endpoint keeps failing", async () => {
    const host = await serve(() => ({ status: 500, body: "boom" }));
    const source = await findSource({ env: { ECS_CONTAINER_METADATA_URI_V4: `http://${host}/v4/abc` }, hostname: () => "h1", attempts: 2 });
    expect(source).toMatchObject({ platform: "host", source: "host:h1", sourceId: "h1" });
    expect(source.fallbackReason).toMatch(/ECS task metadata .* could not be read: HTTP 500/);
    expect(requests).toHaveLength(2);
  });

  it("retries a metadata endpoint that fails once", async () => {
    let calls = 0;
    const host = await serve(() => (++calls === 1 ? { status: 503, body: "" } : { status: 200, body: JSON.stringify({ TaskARN: TASK_ARN }) }));
    const source = await findSource({ env: { ECS_CONTAINER_METADATA_URI_V4: `http://${host}/v4/abc/` } });
    expect(source.platform).toBe("ecs");
    expect(calls).toBe(2);
  });
});

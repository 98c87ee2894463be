import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect } from "node:net";
import { spawn } from "node:child_process";
import { mockClient } from "aws-sdk-client-mock";
import { SSMClient, StartSessionCommand, TerminateSessionCommand } from "@aws-sdk/client-ssm";
import { ECSClient, ExecuteCommandCommand } from "@aws-sdk/client-ecs";
import { KMSClient } from "@aws-sdk/client-kms";
import { assertPluginVersion, buildPluginArgs, getPluginVersion, isFailedSessionEnd, PLUGIN_INSTALL_URL } from "../../../lib/session/plugin.ts";
import { startPluginPortForward, startPluginShell } from "../../../lib/session/via-plugin.ts";
import { listenLocal } from "../../../lib/session/listeners.ts";
import { HAS_IPV6_LOOPBACK } from "../../support/ipv6.ts";

const FIXTURES = resolve(import.meta.dirname, "../../fixtures");
const FAKE = join(FIXTURES, "session-manager-plugin");
const TOKEN = "tok-SECRET-abcdef0123456789";
const grant = {
  sessionId: "alice-0abc123",
  streamUrl: "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/alice-0abc123?role=publish_subscribe",
  tokenValue: TOKEN,
};

describe("buildPluginArgs", () => {
  const request = {
    Target: "mi-0123456789abcdef0",
    DocumentName: "AWS-StartPortForwardingSessionToRemoteHost",
    Parameters: { host: ["db.internal"], portNumber: ["5432"], localPortNumber: ["0"] },
  };

  it("puts the response in the environment for plugins newer than 1.2.497.0", () => {
    const out = buildPluginArgs({
      form: "ssm",
      grant,
      region: "eu-west-1",
      profile: "stg",
      request,
      endpointUrl: "https://ssm.eu-west-1.amazonaws.com",
      pluginVersion: "1.2.498.0",
    });
    expect(out.args).toEqual([
      "AWS_SSM_START_SESSION_RESPONSE",
      "eu-west-1",
      "StartSession",
      "stg",
      JSON.stringify(request),
      "https://ssm.eu-west-1.amazonaws.com",
    ]);
    expect(JSON.parse(out.env.AWS_SSM_START_SESSION_RESPONSE)).toEqual({ SessionId: grant.sessionId, TokenValue: TOKEN, StreamUrl: grant.streamUrl });
    expect(out.args.join(" ")).not.toContain(TOKEN);
  });

  it("passes the response JSON itself to 1.2.497.0 and older, and an empty profile when none was chosen", () => {
    const out = buildPluginArgs({
      form: "ssm",
      grant,
      region: "eu-west-1",
      request,
      endpointUrl: "https://ssm.eu-west-1.amazonaws.com",
      pluginVersion: "1.2.497.0",
    });
    expect(out.args[0]).toBe(JSON.stringify({ SessionId: grant.sessionId, TokenValue: TOKEN, StreamUrl: grant.streamUrl }));
    expect(out.args[3]).toBe("");
    expect(out.env).toEqual({});
  });

  it("uses ECS Exec's form: the camelCase session in the environment (never on argv), the target alone, the ECS endpoint", () => {
    const out = buildPluginArgs({
      form: "ecs",
      grant,
      region: "eu-west-1",
      profile: "prod",
      request: { Target: "ecs:stg-main_5f2e_5f2e-123" },
      endpointUrl: "https://ecs.eu-west-1.amazonaws.com",
      pluginVersion: "1.2.800.0",
    });
    expect(out.args).toEqual([
      "AWS_SSM_START_SESSION_RESPONSE",
      "eu-west-1",
      "StartSession",
      "prod",
      '{"Target":"ecs:stg-main_5f2e_5f2e-123"}',
      "https://ecs.eu-west-1.amazonaws.com",
    ]);
    expect(out.env).toEqual({ AWS_SSM_START_SESSION_RESPONSE: JSON.stringify({ sessionId: grant.sessionId, streamUrl: grant.streamUrl, tokenValue: TOKEN }) });
    expect(out.args.join(" ")).not.toContain(TOKEN);
  });
});

describe("plugin version", () => {
  it("reads --version from the binary and refuses versions below 1.2.764.0 with the fix", async () => {
    expect(await getPluginVersion(FAKE)).toBe("1.2.764.0");
    expect(() => assertPluginVersion("1.2.707.0", "session-manager-plugin")).toThrow(
      `session-manager-plugin is version 1.2.707.0; bastionless needs 1.2.764.0 or newer. Update it (${PLUGIN_INSTALL_URL}), or use --client native.`,
    );
    expect(() => assertPluginVersion("1.2.764.0")).not.toThrow();
  });

  it("says how to install it when it is missing", async () => {
    await expect(getPluginVersion("/nonexistent/session-manager-plugin")).rejects.toThrow(
      `session-manager-plugin is not installed at /nonexistent/session-manager-plugin: ${PLUGIN_INSTALL_URL}, or use --client native`,
    );
  });
});

describe("isFailedSessionEnd", () => {
  const id = "ecs-execute-command-0123456789abcdef0";
  const kms =
    "----------ERROR-------\nEncountered error while initiating handshake. KMSEncryption failed on client with status 2 error: Failed to process action KMSEncryption: Error calling KMS GenerateDataKey API: AccessDeniedException";
  it.each([
    ["a failed KMS handshake", `\nStarting session with SessionId: ${id}\n\n\nSessionId: ${id} : ${kms}\n\n`, true],
    ["a handshake timeout", `\n\nSessionId: ${id} : ----------ERROR-------\nEncountered error while initiating handshake. Handshake timed out.\n\n`, true],
    ["a normal end", `\nStarting session with SessionId: ${id}\nhello\r\n\n\nExiting session with sessionId: ${id}.\n\n`, false],
    ["an Output that is not an error", `\n\nSessionId: ${id} : Session terminated by the administrator\n\n`, false],
    [
      "the ERROR line as remote output, not the plugin's end",
      `----------ERROR-------\nfrom the remote shell\r\n\n\nExiting session with sessionId: ${id}.\n\n`,
      false,
    ],
    ["another session's end", `\n\nSessionId: ecs-execute-command-ffffffffffffffff0 : ${kms}\n\n`, false],
    ["nothing", "", false],
  ])("%s", (_name, output, failed) => {
    expect(isFailedSessionEnd(output, id)).toBe(failed);
  });
});

describe("spawnPlugin, stdout copied (tee)", () => {
  it("keeps reading the plugin's output once our stdout is gone, so that a plugin with more to print still exits", async () => {
    // A tiny real child: it tees a "plugin" printing 20 MB into its stdout, of which we read 5 bytes and close.
    const code = `import(${JSON.stringify(resolve(import.meta.dirname, "../../../lib/session/plugin.ts"))}).then(({ spawnPlugin }) => {
      process.stdout.on("error", () => {});
      const p = spawnPlugin({ path: "/bin/sh", args: ["-c", "head -c 20000000 /dev/zero"], env: {}, stdio: "tee" });
      p.exited.then((c) => process.stderr.write("exited " + c + "\\n"));
    });`;
    // Its own process group, so that a hang is cleaned up with the "plugin" it runs.
    const child = spawn(process.execPath, ["--import", "tsx", "-e", code], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    const closed = new Promise<number | null>((done) => child.once("close", done));
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    try {
      await new Promise<void>((done) => child.stdout.once("data", () => (child.stdout.destroy(), done())));
      const exit = await Promise.race([closed, new Promise<string>((done) => setTimeout(() => done("still running after 10 s"), 10_000))]);
      expect(exit).toBe(0);
      expect(stderr).toBe("exited 0\n");
    } finally {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // Already gone, as it should be.
      }
    }
  }, 20_000);
});

describe("launching the plugin", () => {
  let dir: string;
  let record: string;
  const saved = { ...process.env };
  const ssm = mockClient(SSMClient);
  const ecs = mockClient(ECSClient);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "plugin-test-"));
    record = join(dir, "record.jsonl");
    process.env.PATH = `${FIXTURES}:${saved.PATH}`;
    process.env.FAKE_PLUGIN_RECORD = record;
    process.env.AWS_ENDPOINT_URL = "http://127.0.0.1:4566";
    delete process.env.AWS_ENDPOINT_URL_SSM;
    delete process.env.AWS_ENDPOINT_URL_ECS;
    ssm.reset();
    ecs.reset();
    ssm.on(StartSessionCommand).resolves({ SessionId: grant.sessionId, StreamUrl: grant.streamUrl, TokenValue: TOKEN });
    ssm.on(TerminateSessionCommand).resolves({ SessionId: grant.sessionId });
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(dir, { recursive: true, force: true });
  });

  const clients = () => ({
    ssm: new SSMClient({ region: "eu-west-1" }),
    ecs: new ECSClient({ region: "eu-west-1" }),
    kms: new KMSClient({ region: "eu-west-1" }),
  });
  const events = () =>
    existsSync(record)
      ? readFileSync(record, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
      : [];

  it("ssm start-session: seven arguments, the response in the environment, a working port, SIGINT and TerminateSession on stop", async () => {
    const forward = await startPluginPortForward({
      clients: clients(),
      region: "eu-west-1",
      profile: "stg",
      target: "mi-0123456789abcdef0",
      forwards: [{ localPort: 0, host: "db.internal", remotePort: 5432 }],
    });
    expect(forward.ports).toHaveLength(1);
    const echoed = await new Promise<string>((done, fail) => {
      const s = connect(forward.ports[0], "127.0.0.1", () => s.end("ping"));
      let got = "";
      s.on("data", (d) => (got += d))
        .on("end", () => done(got))
        .on("error", fail);
    });
    expect(echoed).toBe("ping");
    await forward.stop();
    const [start, signal] = events();
    expect(start.argv0).toBe("session-manager-plugin");
    expect(start.args).toEqual([
      "AWS_SSM_START_SESSION_RESPONSE",
      "eu-west-1",
      "StartSession",
      "stg",
      '{"Target":"mi-0123456789abcdef0","DocumentName":"AWS-StartPortForwardingSessionToRemoteHost","Parameters":{"portNumber":["5432"],"localPortNumber":["0"],"host":["db.internal"]}}',
      "http://127.0.0.1:4566",
    ]);
    expect(JSON.parse(start.env.AWS_SSM_START_SESSION_RESPONSE)).toEqual({ SessionId: grant.sessionId, TokenValue: TOKEN, StreamUrl: grant.streamUrl });
    expect(signal).toEqual({ event: "signal", signal: "SIGINT" });
    expect(ssm.commandCalls(StartSessionCommand)[0].args[0].input).toEqual({
      Target: "mi-0123456789abcdef0",
      DocumentName: "AWS-StartPortForwardingSessionToRemoteHost",
      Parameters: { portNumber: ["5432"], localPortNumber: ["0"], host: ["db.internal"] },
    });
    // And TerminateSession beside the SIGINT: a plugin SIGKILLed after its grace never ends its session.
    expect(ssm.commandCalls(TerminateSessionCommand).map((c) => c.args[0].input)).toEqual([{ SessionId: grant.sessionId }]);
  });

  it("ecs execute-command: the session JSON in the environment, the ECS endpoint, the plugin's exit code", async () => {
    process.env.AWS_ENDPOINT_URL_ECS = "http://127.0.0.1:4567";
    process.env.FAKE_PLUGIN_SHELL_EXIT = "3";
    ecs.on(ExecuteCommandCommand).resolves({ session: { sessionId: grant.sessionId, streamUrl: grant.streamUrl, tokenValue: TOKEN } });
    const shell = await startPluginShell({
      clients: clients(),
      region: "eu-west-1",
      profile: "prod",
      via: { kind: "ecs", cluster: "stg-main", task: "5f2e", container: "app", command: "/bin/sh", target: "ecs:stg-main_5f2e_5f2e-123" },
    });
    expect(await shell.exit).toBe(3);
    expect(events()[0].args).toEqual([
      "AWS_SSM_START_SESSION_RESPONSE",
      "eu-west-1",
      "StartSession",
      "prod",
      '{"Target":"ecs:stg-main_5f2e_5f2e-123"}',
      "http://127.0.0.1:4567",
    ]);
    expect(JSON.parse(events()[0].env.AWS_SSM_START_SESSION_RESPONSE)).toEqual({ sessionId: grant.sessionId, streamUrl: grant.streamUrl, tokenValue: TOKEN });
    expect(ecs.commandCalls(ExecuteCommandCommand)[0].args[0].input).toEqual({
      cluster: "stg-main",
      task: "5f2e",
      container: "app",
      command: "/bin/sh",
      interactive: true,
    });
    // Ctrl-C belongs to the plugin only while it runs.
    expect(process.listenerCount("SIGINT")).toBe(0);
  });

  it("a failed KMS handshake, which the plugin ends with exit 0: exit 1, and what it printed reaches our stdout", async () => {
    process.env.FAKE_PLUGIN_KMS_ERROR = "AccessDeniedException: User is not authorized to perform kms:GenerateDataKey";
    ecs.on(ExecuteCommandCommand).resolves({ session: { sessionId: grant.sessionId, streamUrl: grant.streamUrl, tokenValue: TOKEN } });
    const written: string[] = [];
    const write = vi
      .spyOn(process.stdout, "write")
      .mockImplementation((chunk: string | Uint8Array) => (written.push(Buffer.from(chunk).toString("utf8")), true));
    try {
      const shell = await startPluginShell({
        clients: clients(),
        region: "eu-west-1",
        via: { kind: "ecs", cluster: "stg-main", task: "5f2e", container: "app", command: "/bin/sh", target: "ecs:stg-main_5f2e_5f2e-123" },
      });
      expect(await shell.exit).toBe(1);
    } finally {
      write.mockRestore();
    }
    expect(written.join("")).toBe(
      `\nStarting session with SessionId: ${grant.sessionId}\n\n\nSessionId: ${grant.sessionId} : ----------ERROR-------\n` +
        "Encountered error while initiating handshake. KMSEncryption failed on client with status 2 error: Failed to process action KMSEncryption: " +
        "Error calling KMS GenerateDataKey API: AccessDeniedException: User is not authorized to perform kms:GenerateDataKey\n\n",
    );
  });

  it("a shell that ends normally through the plugin keeps its exit code 0", async () => {
    ecs.on(ExecuteCommandCommand).resolves({ session: { sessionId: grant.sessionId, streamUrl: grant.streamUrl, tokenValue: TOKEN } });
    const shell = await startPluginShell({
      clients: clients(),
      region: "eu-west-1",
      via: { kind: "ecs", cluster: "stg-main", task: "5f2e", container: "app", command: "/bin/sh", target: "ecs:stg-main_5f2e_5f2e-123" },
    });
    expect(await shell.exit).toBe(0);
  });

  it("behind the caller's listener: the plugin gets a free port of its own, the listener relays to it and keeps the port when the plugin is gone", async () => {
    const listener = await listenLocal(0);
    try {
      const forward = await startPluginPortForward({
        clients: clients(),
        region: "eu-west-1",
        target: "mi-0123456789abcdef0",
        listeners: [listener],
        forwards: [{ localPort: listener.port, host: "db.internal", remotePort: 5432 }],
      });
      expect(forward.ports).toEqual([listener.port]);
      const start = events()[0];
      expect(JSON.parse(start.args[4]).Parameters.localPortNumber).toEqual(["0"]);
      const roundTrip = (host: string) =>
        new Promise<string>((done, fail) => {
          const s = connect(listener.port, host, () => s.end("ping"));
          let got = "";
          s.on("data", (d) => (got += d))
            .on("end", () => done(got))
            .on("error", fail);
        });
      expect(await roundTrip("127.0.0.1")).toBe("ping");
      if (HAS_IPV6_LOOPBACK) expect(await roundTrip("::1")).toBe("ping");
      await forward.stop();
      // The plugin is gone; the port is still ours and a new connection waits for the next session.
      const waiting = connect(listener.port, "127.0.0.1");
      await new Promise((r) => setTimeout(r, 200));
      expect(listener.waiting).toBe(1);
      waiting.destroy();
    } finally {
      listener.close();
    }
  });

  it("SIGKILLs a plugin that ignores SIGINT after 3 s", async () => {
    process.env.FAKE_PLUGIN_IGNORE_SIGINT = "1";
    const forward = await startPluginPortForward({ clients: clients(), region: "eu-west-1", target: "i-0abc", forwards: [{ localPort: 0, remotePort: 22 }] });
    const started = Date.now();
    await forward.stop();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(2900);
    expect(took).toBeLessThan(8000);
    expect(events()[0].args[4]).toBe(
      '{"Target":"i-0abc","DocumentName":"AWS-StartPortForwardingSession","Parameters":{"portNumber":["22"],"localPortNumber":["0"]}}',
    );
  });

  it("terminates the session when the plugin fails before opening its port", async () => {
    process.env.FAKE_PLUGIN_FAIL = "1";
    await expect(
      startPluginPortForward({ clients: clients(), region: "eu-west-1", target: "i-0abc", forwards: [{ localPort: 0, remotePort: 22 }] }),
    ).rejects.toThrow(/session-manager-plugin exited \(code 1\) before opening its port/);
    expect(ssm.commandCalls(TerminateSessionCommand)[0].args[0].input).toEqual({ SessionId: grant.sessionId });
  });

  it("gives up on a plugin that never says it is ready", async () => {
    process.env.FAKE_PLUGIN_SILENT = "1";
    await expect(
      startPluginPortForward({ clients: clients(), region: "eu-west-1", target: "i-0abc", forwards: [{ localPort: 0, remotePort: 22 }], readyTimeoutMs: 1500 }),
    ).rejects.toThrow("session-manager-plugin did not open its port within 2 s");
    expect(ssm.commandCalls(TerminateSessionCommand)).toHaveLength(1);
  });

  it("refuses to start a session when the plugin is too old", async () => {
    process.env.FAKE_PLUGIN_VERSION = "1.2.707.0";
    await expect(
      startPluginPortForward({ clients: clients(), region: "eu-west-1", target: "i-0abc", forwards: [{ localPort: 0, remotePort: 22 }] }),
    ).rejects.toThrow(/version 1.2.707.0; bastionless needs 1.2.764.0/);
    expect(ssm.commandCalls(StartSessionCommand)).toHaveLength(0);
  });
});

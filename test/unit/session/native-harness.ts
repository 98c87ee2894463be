// A data plane of the local cloud behind a plain HTTP server, with SSM/KMS clients mocked onto it:
// enough to run the native client end to end without the gateway. Plus target services that
// prove bytes arrived intact (sha256) in either direction.
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer, type Server as TcpServer, type Socket } from "node:net";
import { createCipheriv, createHash } from "node:crypto";
import { mockClient } from "aws-sdk-client-mock";
import { ResumeSessionCommand, SSMClient, StartSessionCommand, TerminateSessionCommand } from "@aws-sdk/client-ssm";
import { ECSClient, ExecuteCommandCommand } from "@aws-sdk/client-ecs";
import { KMSClient } from "@aws-sdk/client-kms";
import { createDataPlane } from "../../localcloud/dataplane/index.ts";
import type { DataChannelFaults, DataPlane, SessionSpec } from "../../localcloud/dataplane/types.ts";

export interface NativeHarness {
  dataPlane: DataPlane;
  clients: { ssm: SSMClient; ecs: ECSClient; kms: KMSClient };
  /** Every TokenValue handed out, to prove none leaks. */
  tokens: string[];
  calls: { start: number; resume: number; terminate: string[] };
  /** Every StreamUrl handed out, StartSession's and each ResumeSession's, in order. */
  streamUrls: string[];
  /** Agent version per new session (undefined = the data plane's default). */
  setAgentVersion(version: string | undefined): void;
  /** What the next ExecuteCommand / shell StartSession runs. */
  shellSpec: Partial<Extract<SessionSpec, { kind: "shell" }>>;
  close(): Promise<void>;
}

let sessionCounter = 0;

export async function startNativeHarness(opts: { faults?: DataChannelFaults } = {}): Promise<NativeHarness> {
  const http: Server = createHttpServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const port = (http.address() as { port: number }).port;
  const dataPlane = createDataPlane({ publicUrl: `ws://127.0.0.1:${port}`, faults: opts.faults });
  http.on("upgrade", (req, socket, head) => dataPlane.handleUpgrade(req, socket, head));
  const tokens: string[] = [];
  const calls = { start: 0, resume: 0, terminate: [] as string[] };
  const streamUrls: string[] = [];
  let agentVersion: string | undefined;
  const harness: NativeHarness = {
    dataPlane,
    clients: {
      ssm: new SSMClient({ region: "eu-west-1", credentials: { accessKeyId: "AKIDLOCAL", secretAccessKey: "local-secret" } }),
      ecs: new ECSClient({ region: "eu-west-1", credentials: { accessKeyId: "AKIDLOCAL", secretAccessKey: "local-secret" } }),
      kms: new KMSClient({ region: "eu-west-1", credentials: { accessKeyId: "AKIDLOCAL", secretAccessKey: "local-secret" } }),
    },
    tokens,
    calls,
    streamUrls,
    setAgentVersion: (v) => (agentVersion = v),
    shellSpec: {},
    async close() {
      ssm.restore();
      ecs.restore();
      await dataPlane.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
  const grant = (sessionId: string, issued: { streamUrl: string; tokenValue: string }) => {
    tokens.push(issued.tokenValue);
    streamUrls.push(issued.streamUrl);
    return { SessionId: sessionId, StreamUrl: issued.streamUrl, TokenValue: issued.tokenValue };
  };
  const ssm = mockClient(harness.clients.ssm);
  ssm.on(StartSessionCommand).callsFake((input) => {
    calls.start++;
    const sessionId = `test-${process.pid}-${++sessionCounter}`;
    if (input.DocumentName?.includes("PortForwarding")) {
      const p = input.Parameters ?? {};
      return grant(
        sessionId,
        dataPlane.openSession({
          kind: "port",
          sessionId,
          target: input.Target,
          documentName: input.DocumentName,
          host: p.host?.[0] ?? "localhost",
          port: Number(p.portNumber?.[0]),
          localPortNumber: p.localPortNumber?.[0],
          ...(agentVersion ? { agentVersion } : {}),
        }),
      );
    }
    return grant(
      sessionId,
      dataPlane.openSession({
        kind: "shell",
        sessionId,
        target: input.Target,
        cwd: process.cwd(),
        env: { ...process.env } as Record<string, string>,
        ...harness.shellSpec,
      }),
    );
  });
  ssm.on(ResumeSessionCommand).callsFake((input) => {
    calls.resume++;
    const issued = dataPlane.resumeSession(input.SessionId);
    return issued ? grant(input.SessionId, issued) : { SessionId: input.SessionId };
  });
  ssm.on(TerminateSessionCommand).callsFake((input) => {
    calls.terminate.push(input.SessionId);
    dataPlane.terminateSession(input.SessionId, "TerminateSession");
    return { SessionId: input.SessionId };
  });
  const ecs = mockClient(harness.clients.ecs);
  ecs.on(ExecuteCommandCommand).callsFake((input) => {
    const sessionId = `ecs-execute-command-${++sessionCounter}`;
    const issued = dataPlane.openSession({
      kind: "shell",
      sessionId,
      target: `ecs:${input.cluster}_${input.task}_r`,
      cwd: process.cwd(),
      env: { ...process.env } as Record<string, string>,
      command: input.command,
      ...harness.shellSpec,
    });
    tokens.push(issued.tokenValue);
    return { session: { sessionId, streamUrl: issued.streamUrl, tokenValue: issued.tokenValue } };
  });
  return harness;
}

/** A deterministic byte stream (AES-128-CTR of zeros), fast enough for 256 MiB. */
export function prngStream(seed: number, total: number, chunk = 64 * 1024): Generator<Buffer> {
  const key = createHash("sha256").update(String(seed)).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(chunk);
  return (function* () {
    for (let sent = 0; sent < total; sent += chunk) yield cipher.update(zeros.subarray(0, Math.min(chunk, total - sent)));
  })();
}

export function prngDigest(seed: number, total: number): string {
  const hash = createHash("sha256");
  for (const b of prngStream(seed, total)) hash.update(b);
  return hash.digest("hex");
}

/**
 * A target speaking a one-line protocol: "UP <bytes>\n" then that many bytes → answers their sha256
 * hex and the count, then ends (no half-close needed: the agent closes a target fully on a client's
 * FIN); "UP\n" then bytes → the same on EOF (a half-close, for clients that can carry one); "DOWN <seed> <bytes>\n" → sends that PRNG stream as fast as TCP takes it, then ends;
 * anything else is echoed.
 */
export async function startTargetServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: TcpServer = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(10);
      if (nl < 0) return;
      socket.off("data", onData);
      const line = head.subarray(0, nl).toString();
      const rest = head.subarray(nl + 1);
      if (line === "UP" || line.startsWith("UP ")) {
        const expected = line === "UP" ? Infinity : Number(line.slice(3));
        const hash = createHash("sha256");
        let bytes = 0;
        const take = (d: Buffer) => {
          const part = d.subarray(0, Math.max(0, Math.min(d.length, expected - bytes)));
          hash.update(part);
          bytes += part.length;
          if (bytes === expected) socket.end(`${hash.digest("hex")} ${bytes}\n`);
        };
        take(rest);
        socket.on("data", take);
        if (expected === Infinity) socket.on("end", () => socket.end(`${hash.digest("hex")} ${bytes}\n`));
      } else if (line.startsWith("DOWN ")) {
        const [, seed, total] = line.split(" ");
        const gen = prngStream(Number(seed), Number(total));
        const pump = () => {
          for (let r = gen.next(); !r.done; r = gen.next()) if (!socket.write(r.value)) return void socket.once("drain", pump);
          socket.end();
        };
        socket.resume();
        pump();
      } else {
        socket.write(head);
        socket.pipe(socket);
      }
    };
    socket.on("data", onData);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

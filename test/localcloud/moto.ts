// moto_server as a child process on a free loopback port, plus the few calls the gateway makes to
// it directly (state-manager pinning, reset, internal JSON 1.1 calls).
import { spawn, type ChildProcess } from "node:child_process";

export interface Moto {
  url: string;
  pid: number;
  /** A JSON 1.1 call straight to moto, signed-looking so moto picks the region. */
  json(service: string, target: string, body: unknown, region: string): Promise<any>;
  /** POST /moto-api/reset, then pin ECS tasks again. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export function fakeAuthorization(service: string, region: string): string {
  // moto reads the region (and nothing else) from the credential scope.
  return `AWS4-HMAC-SHA256 Credential=localcloud/20260101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`;
}

async function waitForPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`moto_server did not start within ${timeoutMs} ms: ${seen}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /Running on http:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stderr!.on("data", onData);
    child.stdout!.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`moto_server exited (${code ?? signal}) before listening: ${seen}`));
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run moto_server (pip install "moto[server]"): ${err.message}`));
    });
  });
}

/** moto's default ECS task model advances one state per DescribeTasks; pin it so our overlay owns the lifecycle. */
async function pinTaskState(url: string): Promise<void> {
  const res = await fetch(`${url}/moto-api/state-manager/set-transition`, {
    method: "POST",
    body: JSON.stringify({ model_name: "ecs::task", transition: { progression: "manual", times: 1_000_000_000 } }),
  });
  if (!res.ok) throw new Error(`moto set-transition failed: ${res.status}`);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    /* already gone */
  }
}

export async function startMoto(onSpawned: (pgid: number) => void = () => {}): Promise<Moto> {
  // Own process group: the pyenv shim and python die together on stop.
  const child = spawn("moto_server", ["-H", "127.0.0.1", "-p", "0"], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, MOTO_ECS_SERVICE_RUNNING: process.env.MOTO_ECS_SERVICE_RUNNING ?? "1" },
  });
  if (child.pid) onSpawned(child.pid);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let port: number;
  try {
    port = await waitForPort(child, 30_000);
  } catch (err) {
    killGroup(child, "SIGKILL");
    throw err;
  }
  // After the banner, keep draining output so the pipe never fills (LOCALCLOUD_DEBUG=1 shows it).
  if (process.env.LOCALCLOUD_DEBUG) {
    child.stderr!.pipe(process.stderr);
    child.stdout!.pipe(process.stderr);
  }
  child.stdout!.resume();
  child.stderr!.resume();
  const url = `http://127.0.0.1:${port}`;
  await pinTaskState(url);

  return {
    url,
    pid: child.pid!,
    async json(service, target, body, region) {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": target,
          authorization: fakeAuthorization(service, region),
        },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`moto ${target} failed (${res.status}): ${text.slice(0, 300)}`);
      return text ? JSON.parse(text) : {};
    },
    async reset() {
      await fetch(`${url}/moto-api/reset`, { method: "POST" });
      await pinTaskState(url);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
      killGroup(child, "SIGKILL"); // anything left in the group
    },
  };
}

// startLocalCloud(): moto_server + our gateway (+ data plane, simulated containers, PostgreSQL for
// the demo world) on loopback. Every instance is self-contained: own moto, own state, own temp dir.
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClock } from "./clock.ts";
import { killContainerProcess } from "./containers/process.ts";
import type { CloudContext, CloudOptions } from "./context.ts";
import { createDataPlaneOrStandIn } from "./dataplane-loader.ts";
import type { DataChannelFaults } from "./dataplane/types.ts";
import { haltTasks, tickTasks } from "./ecs/lifecycle.ts";
import { createFaults, validateFaultSpec, type FaultSpec } from "./faults.ts";
import { createGatewayServer } from "./gateway.ts";
import { assertAgentMayDecrypt } from "./iam/agents.ts";
import { Principals } from "./iam/principals.ts";
import { readInventory, type Inventory } from "./inventory.ts";
import { startMoto } from "./moto.ts";
import { startPostgres, type Postgres } from "./postgres.ts";
import { startReaper } from "./reaper.ts";
import { createSecretLog, type IssuedSecret } from "./secrets.ts";
import { findAgentIdentity } from "./ssm/session-targets.ts";
import { markSessionEnded } from "./ssm/sessions.ts";
import { emptyState } from "./state.ts";
import type { PrincipalEnv, ProgramPrincipal } from "./iam/demo-roles.ts";
import type { Denial } from "./iam/principals.ts";
import { buildDemoWorld, DEMO_REGION } from "./world.ts";

// The local cloud's one door: tests, benchmarks and fixtures import it here (or its data plane alone
// through ./dataplane/index.ts), never a module behind it (test/unit/layers.test.ts holds that).
export type { FaultSpec, OperationFaults } from "./faults.ts";
export { seededRandom } from "./faults.ts";
export type { Inventory as State } from "./inventory.ts";
export type { IssuedSecret, SecretKind } from "./secrets.ts";
export { SECRETS_FILE_ENV } from "./secrets.ts";
export { PROGRAM_USERS, grantBastionRoles, ssmInstanceRoleName } from "./iam/demo-roles.ts";
export type { PrincipalEnv, ProgramPrincipal } from "./iam/demo-roles.ts";
export { ACCOUNT } from "./iam/principals.ts";
export type { Denial } from "./iam/principals.ts";
export { containerName } from "./containers/podman.ts";
export { startPostgres, type Postgres } from "./postgres.ts";

/** The fake amazon-ssm-agent (register, heartbeats, sessions) that simulated containers run. */
export const AGENT_BIN = join(import.meta.dirname, "bin/amazon-ssm-agent");

export interface LocalCloudOptions {
  /** Gateway port; 0 (default) picks a free one. */
  port?: number;
  world?: "demo" | "empty";
  region?: string;
  faults?: FaultSpec;
  /** How long a RunTask stays PROVISIONING, then PENDING. Default 2000 / 1000 ms. */
  taskDelays?: { provisioningMs: number; pendingMs: number };
  /** Overrides every container's stopTimeout (default: the task definition's, else 30 s). */
  stopTimeoutMs?: number;
  /** How long after its last heartbeat a managed instance turns ConnectionLost. Default 10 s. */
  connectionLostAfterMs?: number;
  /** Start the local PostgreSQL behind the Aurora endpoints. Default: true for the demo world. */
  postgres?: boolean;
}

export interface LocalCloud {
  endpoint: string;
  region: string;
  /** Spread into a child's env: endpoint, region, dummy credentials, SDK/CLI quieting. */
  env: Record<string, string>;
  postgres?: { host: string; port: number; user: string; database: string; url: string };
  /** moto_server itself, for tests that want to look behind the gateway. */
  motoUrl: string;
  motoPid: number;
  /** The cloud's temp dir (containers' dirs live under it); gone after stop(). */
  tmpDir: string;
  state(region?: string): Promise<Inventory>;
  /**
   * The credentials of a program's principal in the demo world (the operator runs portforward and
   * exec, the sweeper cleanup-orphans), holding exactly the rendered policies of docker/iam/. Spread
   * after `env`; `env` alone is the account's root, whom IAM does not evaluate.
   */
  principalEnv(principal: ProgramPrincipal): PrincipalEnv;
  /** Every call IAM refused (caller, action, resource, AWS's message), oldest first; reset() clears it. */
  deniedCalls(): Denial[];
  /** Every secret this cloud handed out, oldest first (also appended to $LOCALCLOUD_SECRETS_FILE). */
  issuedSecrets(): IssuedSecret[];
  setFaults(faults: FaultSpec): Promise<void>;
  advanceClock(ms: number): Promise<void>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");

export function cloudEnv(endpoint: string, region: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: "localcloud",
    AWS_SECRET_ACCESS_KEY: "localcloud",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    AWS_PAGER: "",
  };
}

export async function startLocalCloud(opts: LocalCloudOptions = {}): Promise<LocalCloud> {
  const world = opts.world ?? "empty";
  const region = opts.region ?? DEMO_REGION;
  const faultSpec = validateFaultSpec(opts.faults ?? {});
  const tmpRoot = mkdtempSync(join(tmpdir(), "localcloud-"));
  const reaper = startReaper(tmpRoot);
  const cleanups: (() => Promise<void>)[] = [() => reaper.stop(), async () => rmSync(tmpRoot, { recursive: true, force: true })];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((err) => console.error("[localcloud] cleanup:", err));
  };
  try {
    const wantPostgres = opts.postgres ?? world === "demo";
    const [moto, pg] = await Promise.all([
      startMoto((pgid) => reaper.addGroup(pgid)),
      wantPostgres ? startPostgres((files) => reaper.setPostgres(files)) : Promise.resolve(undefined),
    ]);
    cleanups.push(async () => {
      await moto.stop();
      reaper.removeGroup(moto.pid);
    });
    if (pg) cleanups.push(() => pg.stop());

    const clock = createClock();
    const faults = createFaults(clock.now);
    const secrets = createSecretLog();
    let ctx!: CloudContext;
    let programUsers: Record<ProgramPrincipal, PrincipalEnv> | undefined;
    const reset = async () => {
      await stopEverything(ctx);
      Object.assign(ctx.state, emptyState());
      ctx.hostMap.clear();
      await moto.reset();
      ctx.principals.clear();
      if (world === "demo") programUsers = await buildDemoWorld(worldTarget(ctx, pg));
    };
    const applyFaults = (spec: FaultSpec) => {
      faults.set(spec);
      ctx.dataPlane.setFaults(spec.dataChannel ?? ({} as DataChannelFaults));
    };
    const server = createGatewayServer(() => ctx, { reset, applyFaults });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
    });
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });
    const port = (server.address() as AddressInfo).port;
    const endpoint = `http://127.0.0.1:${port}`;
    const options: CloudOptions = {
      defaultRegion: region,
      endpoint,
      connectionLostAfterMs: opts.connectionLostAfterMs ?? 10_000,
      taskDelays: opts.taskDelays ?? { provisioningMs: 2000, pendingMs: 1000 },
      stopTimeoutMs: opts.stopTimeoutMs,
      tmpRoot,
      repoRoot: REPO_ROOT,
    };
    const hostMap = new Map<string, { host: string; port: number }>();
    const dataPlane = await createDataPlaneOrStandIn({
      publicUrl: `ws://127.0.0.1:${port}`,
      resolveHost: (host, p) => hostMap.get(host.toLowerCase()) ?? { host, port: p },
      faults: faultSpec.dataChannel,
      onSessionEnded: (sessionId) => markSessionEnded(ctx, sessionId),
      // The agent decrypts the session's data key with its own credentials (the task or instance role).
      kmsDecrypt: async (ciphertext, context) => {
        const target = context["aws:ssm:TargetId"];
        await assertAgentMayDecrypt(ctx, findAgentIdentity(ctx, region, target), region, ciphertext, context);
        const out = await moto.json("kms", "TrentService.Decrypt", { CiphertextBlob: ciphertext.toString("base64"), EncryptionContext: context }, region);
        return Buffer.from(out.Plaintext, "base64");
      },
    });
    const principals = new Principals(moto.url, region);
    cleanups.push(async () => principals.close());
    ctx = {
      state: emptyState(),
      clock,
      moto,
      faults,
      dataPlane,
      options,
      hostMap,
      secrets,
      principals,
      inFlight: { calls: 0, lastMs: Date.now() },
      tick: () => tickTasks(ctx),
      trackProcessGroup: (pgid) => reaper.addGroup(pgid),
      untrackProcessGroup: (pgid) => reaper.removeGroup(pgid),
      trackCleanupCommand: (argv, env) => reaper.addCommand(argv, env),
    };
    cleanups.push(async () => {
      await stopEverything(ctx);
      await dataPlane.close();
    });
    if (world === "demo") programUsers = await buildDemoWorld(worldTarget(ctx, pg));
    // Faults apply after the world is built, so setup never trips over them.
    faults.set(faultSpec);

    let stopped: Promise<void> | undefined;
    return {
      endpoint,
      region,
      env: cloudEnv(endpoint, region),
      postgres: pg && { host: pg.host, port: pg.port, user: pg.user, database: pg.database, url: pg.url },
      motoUrl: moto.url,
      motoPid: moto.pid,
      tmpDir: tmpRoot,
      state: (r) => readInventory(ctx, r ?? region),
      principalEnv(principal) {
        if (!programUsers) throw new Error(`the ${principal}'s credentials exist in the demo world only (startLocalCloud({ world: "demo" }))`);
        return programUsers[principal];
      },
      deniedCalls: () => [...principals.denials],
      issuedSecrets: () => secrets.list(),
      async setFaults(f) {
        applyFaults(validateFaultSpec(f));
      },
      async advanceClock(ms) {
        clock.advance(ms);
        ctx.tick();
      },
      reset,
      stop: () => (stopped ??= cleanup()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function worldTarget(ctx: CloudContext, pg: Postgres | undefined) {
  return {
    endpoint: ctx.options.endpoint,
    region: ctx.options.defaultRegion,
    database: pg && { host: pg.host, port: pg.port },
    mapHost: (from: string, to: { host: string; port: number }) => ctx.hostMap.set(from.toLowerCase(), to),
  };
}

/**
 * Kills every simulated container and ends every session (reset and stop), at any moment: tasks
 * still PROVISIONING or PENDING are halted first, so that no lifecycle timer starts a container
 * while (or after) the others are killed.
 */
async function stopEverything(ctx: CloudContext): Promise<void> {
  haltTasks(ctx);
  for (const s of ctx.state.sessions.values()) {
    if (!s.endMs) ctx.dataPlane.terminateSession(s.sessionId, "local cloud stopping");
  }
  await Promise.all([...ctx.state.tasks.values()].flatMap((t) => t.containers.map(killContainerProcess)));
}

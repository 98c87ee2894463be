// make conformance PLUGIN=<session-manager-plugin> AGENT_DIR=<dir>: the same session scripts over
// {native client, AWS's plugin} × {emulated agent, AWS's agent} on a fresh local cloud, one table.
// AWS's binaries are given by path and never come from this repository (docs/conformance.md).
//   node --import tsx test/conformance/run.mts --plugin P --agent-dir D [--mib 1] [--only name,name] [--out FILE]
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { CreateClusterCommand, ECSClient } from "@aws-sdk/client-ecs";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { DescribeDBClustersCommand, RDSClient } from "@aws-sdk/client-rds";
import { SSMClient } from "@aws-sdk/client-ssm";
import { runBastionTask } from "../e2e/session-harness.ts";
import { startLocalCloud } from "../localcloud/index.ts";
import { cloudConfig } from "../support/clients.ts";
import { agentVersionOf, missingBinariesLine, pluginVersionOf } from "./binaries.ts";
import { CASES, type CaseContext } from "./cases.ts";
import { exitCodeOf, formatReport, PAIRS, type CaseResult } from "./report.ts";
import { startKmsProxy, type KmsProxy } from "./kms-proxy.ts";
import { startTarget } from "./target.ts";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values: args } = parseArgs({
  options: {
    plugin: { type: "string" },
    "agent-dir": { type: "string" },
    mib: { type: "string", default: "1" },
    only: { type: "string" },
    out: { type: "string" },
  },
});
const plugin = args.plugin || undefined;
const agentDir = args["agent-dir"] || undefined;
const CASE_TIMEOUT_MS = 10 * 60_000;
/** Why the real agent's column is empty, until the local cloud can host AWS's agent. */
const REAL_AGENT_NOT_RUN = "the local cloud cannot host AWS's agent yet (its data plane has no relay mode to an agent's own data channel)";

async function main(): Promise<number> {
  const missing = missingBinariesLine(plugin, agentDir);
  if (missing) {
    console.error(missing);
    return 2;
  }
  const versions = { plugin: await pluginVersionOf(plugin!), agent: await agentVersionOf(agentDir!) };
  const cases = CASES.filter((c) => !args.only || args.only.split(",").some((o) => c.name.startsWith(o.trim())));
  const started = new Date();
  console.log(
    `conformance ${started.toISOString()}: session-manager-plugin ${versions.plugin} (${plugin}), amazon-ssm-agent ${versions.agent} (${agentDir}), node ${process.version}`,
  );

  const cloud = await startLocalCloud({ world: "demo", taskDelays: { provisioningMs: 100, pendingMs: 100 } });
  const target = await startTarget();
  const results: CaseResult[] = [];
  let kmsProxy: KmsProxy | undefined;
  try {
    const config = cloudConfig(cloud);
    const clients = { ssm: new SSMClient(config), ecs: new ECSClient(config), kms: new KMSClient(config) };
    const rds = new RDSClient(config);
    const dbHost = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: "stg-db" }))).DBClusters![0].Endpoint!;
    const bastion = await runBastionTask(clients.ecs, "stg-main");
    const key = await clients.kms.send(new CreateKeyCommand({ Description: "conformance: KMS-encrypted ECS Exec" }));
    await clients.ecs.send(
      new CreateClusterCommand({
        clusterName: "stg-kms",
        configuration: { executeCommandConfiguration: { kmsKeyId: key.KeyMetadata!.Arn!, logging: "DEFAULT" } },
      }),
    );
    const kmsBastion = await runBastionTask(clients.ecs, "stg-kms");
    kmsProxy = await startKmsProxy(cloud.endpoint, cloud.region);
    for (const pair of PAIRS) {
      for (const c of cases) {
        if (pair.agent === "real") {
          results.push({ ...pair, case: c.name, outcome: "not run", observed: REAL_AGENT_NOT_RUN });
          continue;
        }
        const ctx: CaseContext = {
          client: pair.client,
          clients,
          region: cloud.region,
          pluginPath: plugin!,
          pluginVersion: versions.plugin,
          cloudEnv: cloud.env,
          kmsTarget: kmsBastion.target,
          kmsProxyEnv: kmsProxy.env,
          target: bastion.target,
          cloud,
          servicePort: target.port,
          dbHost,
          mib: Number(args.mib),
        };
        const t0 = Date.now();
        let timer: NodeJS.Timeout | undefined;
        const outcome = await Promise.race([
          c.run(ctx),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no result within ${CASE_TIMEOUT_MS / 60_000} min`)), CASE_TIMEOUT_MS))),
        ])
          .catch((error: Error) => ({ outcome: "fail" as const, observed: `error: ${error.message.split("\n")[0]}` }))
          .finally(() => clearTimeout(timer));
        const result = { ...pair, case: c.name, ...outcome };
        results.push(result);
        console.log(`  ${pair.client} × ${pair.agent} agent, ${c.name}: ${result.outcome} in ${((Date.now() - t0) / 1000).toFixed(1)} s — ${result.observed}`);
      }
    }
  } finally {
    await kmsProxy?.close();
    await target.close();
    await cloud.stop();
  }
  const report = [
    `Measured ${started.toISOString().slice(0, 16).replace("T", " ")} UTC: session-manager-plugin ${versions.plugin}, amazon-ssm-agent ${versions.agent}, local cloud's emulated agent (AWS's rules on), ${args.mib} MiB per parallel connection.`,
    "",
    formatReport(
      cases.map((c) => c.name),
      results,
    ),
  ].join("\n");
  console.log(`\n${report}`);
  if (args.out) writeFileSync(args.out, report + "\n");
  return exitCodeOf(
    cases.map((c) => c.name),
    results,
  );
}

process.exitCode = await main().catch((error: Error) => {
  console.error(`conformance: ${error.stack ?? error.message}`);
  return 1;
});

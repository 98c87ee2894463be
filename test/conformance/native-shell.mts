// The native client's ECS Exec shell on this terminal, for the conformance shell case (the plugin's
// counterpart is the plugin itself): node --import tsx native-shell.mts <cluster> <task> <ecs:target>
// with the local cloud's environment. Exits with the shell's exit code.
import { ECSClient } from "@aws-sdk/client-ecs";
import { KMSClient } from "@aws-sdk/client-kms";
import { SSMClient } from "@aws-sdk/client-ssm";
import { startNativeShell } from "../../lib/session/shell.ts";

const [cluster, task, target] = process.argv.slice(2);
const region = process.env.AWS_REGION!;
const clients = { ssm: new SSMClient({ region }), ecs: new ECSClient({ region }), kms: new KMSClient({ region }) };
const shell = await startNativeShell({ clients, region, client: "native", via: { kind: "ecs", cluster, task, command: "/bin/sh", target } });
process.exitCode = await shell.exit;

// make iam ENV=stg ACCOUNT=123456789012 REGION=ap-northeast-1 [KMS_KEY=<key id>] [EXEC_LOG_BUCKET=<bucket>]:
// prints every policy of docker/iam/
// filled in, as one JSON document. A missing or malformed input is a usage error: exit 2, one line.
import { parseArgs } from "node:util";
import { checkRenderInput, renderPolicies } from "./policies.ts";

const USAGE =
  "usage: render.mts --env <env> --account <12 digits> --region <region> [--kms-key <key id>] [--exec-log-bucket <bucket>]  (make iam ENV=… ACCOUNT=… REGION=… [KMS_KEY=…] [EXEC_LOG_BUCKET=…])";

function main(): number {
  let values: { env?: string; account?: string; region?: string; "kms-key"?: string; "exec-log-bucket"?: string };
  try {
    ({ values } = parseArgs({
      options: {
        env: { type: "string" },
        account: { type: "string" },
        region: { type: "string" },
        "kms-key": { type: "string" },
        "exec-log-bucket": { type: "string" },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`make iam: ${(error as Error).message}. ${USAGE}\n`);
    return 2;
  }
  // make passes an unset optional variable as an empty string.
  const input = {
    env: values.env,
    account: values.account,
    region: values.region,
    kmsKey: values["kms-key"] || undefined,
    execLogBucket: values["exec-log-bucket"] || undefined,
  };
  const problems = checkRenderInput(input);
  if (problems.length) {
    process.stderr.write(`make iam: ${problems.join("; ")}.\n`);
    return 2;
  }
  const rendered = renderPolicies({ ...input, env: input.env!, account: input.account!, region: input.region! });
  process.stdout.write(JSON.stringify(rendered, null, 2) + "\n");
  return 0;
}

process.exitCode = main();

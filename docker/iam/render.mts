// make iam ENV=stg ACCOUNT=123456789012 REGION=ap-northeast-1: prints every policy of docker/iam/
// filled in, as one JSON document. A missing or malformed input is a usage error: exit 2, one line.
import { parseArgs } from "node:util";
import { checkRenderInput, renderPolicies } from "./policies.ts";

const USAGE = "usage: render.mts --env <env> --account <12 digits> --region <region>  (make iam ENV=… ACCOUNT=… REGION=…)";

function main(): number {
  let values: { env?: string; account?: string; region?: string };
  try {
    ({ values } = parseArgs({ options: { env: { type: "string" }, account: { type: "string" }, region: { type: "string" } }, strict: true }));
  } catch (error) {
    process.stderr.write(`make iam: ${(error as Error).message}. ${USAGE}\n`);
    return 2;
  }
  const problems = checkRenderInput(values);
  if (problems.length) {
    process.stderr.write(`make iam: ${problems.join("; ")}.\n`);
    return 2;
  }
  const rendered = renderPolicies({ env: values.env!, account: values.account!, region: values.region! });
  process.stdout.write(JSON.stringify(rendered, null, 2) + "\n");
  return 0;
}

process.exitCode = main();

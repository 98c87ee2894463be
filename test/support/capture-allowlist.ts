// Children whose output is NOT captured for the secret scan, because printing an issued secret is
// their job. Each entry matches one program (and, where it can, one operation) and says why.
// Everything else a test starts — our programs, the local cloud's containers, moto, tmux — is.
import { basename } from "node:path";

export interface Exclusion {
  reason: string;
  matches(argv: string[]): boolean;
}

export const NOT_CAPTURED: Exclusion[] = [
  {
    // test/localcloud/cli.test.ts: `aws ssm create-activation` prints the ActivationCode it was
    // given, as AWS's CLI does; the code then goes to the fake agent's -register argv.
    reason: "the AWS CLI's create-activation prints the ActivationCode by design",
    matches: (argv) => basename(argv[0] ?? "") === "aws" && argv[1] === "ssm" && argv[2] === "create-activation",
  },
  {
    // test/reliability/secret-scan.test.ts: a program that prints issued secrets on purpose, to
    // prove the scan reports them; that test captures it into a directory of its own.
    reason: "the secret scan's own proof leaks on purpose",
    matches: (argv) => argv.some((a) => a.endsWith("test/reliability/fixtures/leaky-program.mjs")),
  },
];

export function findExclusion(argv: string[]): Exclusion | undefined {
  return NOT_CAPTURED.find((e) => e.matches(argv));
}

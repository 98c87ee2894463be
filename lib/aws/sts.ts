// STS: who the caller is (the audit log's "who", the principal of exec's permission checks).
import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import { call } from "./errors.ts";

export interface CallerIdentity {
  account: string;
  arn: string;
  userId: string;
}

export async function getCallerIdentity(sts: STSClient): Promise<CallerIdentity> {
  const out = await call({ action: "sts:GetCallerIdentity" }, () => sts.send(new GetCallerIdentityCommand({})));
  return { account: out.Account ?? "", arn: out.Arn ?? "", userId: out.UserId ?? "" };
}

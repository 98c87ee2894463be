// KMS's key state, which moto ignores: it answers GenerateDataKey, Decrypt and Encrypt with a
// Disabled key, where AWS answers DisabledException (and KMSInvalidStateException for a key pending
// deletion). moto does the crypto; we judge the key it used (the answer's KeyId, its ARN) and hand
// out nothing when AWS would refuse.
import { AwsError } from "./aws-errors.ts";
import type { CloudContext, Handler } from "./context.ts";
import { recordRelayedSecrets } from "./secrets.ts";

async function keyState(ctx: CloudContext, keyArn: string, region: string): Promise<string | undefined> {
  const out = await ctx.moto.json("kms", "TrentService.DescribeKey", { KeyId: keyArn }, region).catch(() => undefined);
  return out?.KeyMetadata?.KeyState;
}

function usableKey(operation: string): Handler {
  return async (ctx, call) => {
    const out = await call.forwardJson();
    const keyArn = String(out.KeyId ?? "");
    const state = keyArn ? await keyState(ctx, keyArn, call.region) : undefined;
    if (state === "Disabled") throw new AwsError("DisabledException", `${keyArn} is disabled.`);
    if (state === "PendingDeletion") throw new AwsError("KMSInvalidStateException", `${keyArn} is pending deletion.`);
    recordRelayedSecrets(ctx.secrets, "kms", operation, 200, Buffer.from(JSON.stringify(out)));
    return out;
  };
}

export const generateDataKey = usableKey("GenerateDataKey");
export const decrypt = usableKey("Decrypt");
export const encrypt = usableKey("Encrypt");

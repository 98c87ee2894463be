// The upgrade GET's SigV4 headers, against a signature computed by hand from the SigV4 steps
// (canonical request, string to sign, the derived key's HMAC chain), not by the signer itself.
import { describe, expect, it } from "vitest";
import { isPresigned, signUpgradeHeaders } from "../../../lib/session/sign.ts";

const STREAM_URL = "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/alice-0abc123?role=publish_subscribe&cell-number=AAEAAQ";
const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "session-token" };

describe("signUpgradeHeaders", () => {
  it("signs the upgrade for ssmmessages in the session's region", async () => {
    expect(await signUpgradeHeaders(STREAM_URL, "eu-west-1", credentials, new Date("2026-01-02T03:04:05Z"))).toEqual({
      "x-amz-date": "20260102T030405Z",
      "x-amz-security-token": "session-token",
      "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      authorization:
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/eu-west-1/ssmmessages/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=0d2d953276f9725056bcf860ada051b8f6c07b1f9c4ecd95466e2716f444a528",
    });
  });

  it("adds nothing to a presigned StreamUrl", async () => {
    const presigned = `${STREAM_URL}&X-Amz-Signature=abc`;
    expect(isPresigned(presigned)).toBe(true);
    expect(await signUpgradeHeaders(presigned, "eu-west-1", credentials)).toEqual({});
  });
});

import { describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { SSMClient, CreateActivationCommand } from "@aws-sdk/client-ssm";
import {
  AwsCallError,
  awsErrorName,
  call,
  callPages,
  explainAwsError,
  httpStatusOf,
  isAccessDenied,
  isNotFound,
  isThrottling,
  isTransient,
  withClientProfile,
} from "../../../lib/aws/errors.ts";

const err = (name: string, message: string, extra: object = {}) => Object.assign(new Error(message), { name, ...extra });

describe("explainAwsError", () => {
  const ctx = { action: "ssm:CreateActivation", object: "role stg-ssm-role", profile: "stg" };
  it.each([
    [
      err("AccessDeniedException", "User: arn:aws:sts::1:assumed-role/x is not authorized to perform: ssm:CreateActivation"),
      'ssm:CreateActivation on role stg-ssm-role was denied: allow "ssm:CreateActivation" for the caller\'s IAM identity (see docker/iam/). AWS said: User: arn:aws:sts::1:assumed-role/x is not authorized to perform: ssm:CreateActivation',
    ],
    [
      err("ExpiredTokenException", "The security token included in the request is expired"),
      "ssm:CreateActivation on role stg-ssm-role failed: the AWS credentials have expired. Refresh them (aws sso login --profile stg) and try again.",
    ],
    [
      err("CredentialsProviderError", "Could not load credentials from any providers"),
      "ssm:CreateActivation on role stg-ssm-role failed: no AWS credentials were found. Pass --profile, set AWS_PROFILE, or run aws sso login.",
    ],
    [
      err("ThrottlingException", "Rate exceeded", { $metadata: { attempts: 5 } }),
      "ssm:CreateActivation on role stg-ssm-role was throttled by AWS after 5 attempts: try again in a minute, or lower the request rate.",
    ],
    [
      err("Error", "connect ECONNREFUSED 127.0.0.1:1", { code: "ECONNREFUSED" }),
      "ssm:CreateActivation on role stg-ssm-role failed: the AWS endpoint could not be reached (ECONNREFUSED). Check the network, AWS_ENDPOINT_URL and the region.",
    ],
    [err("InvalidParameters", "IamRole is invalid\nmore"), "ssm:CreateActivation on role stg-ssm-role failed: InvalidParameters: IamRole is invalid"],
  ])("explains %s", (error, line) => {
    expect(explainAwsError(error, ctx)).toBe(line);
  });

  it("names the client's profile in the expired-credentials remedy when the call site does not", () => {
    const expired = () => Object.assign(new Error("The security token included in the request is expired"), { name: "ExpiredTokenException" });
    expect(explainAwsError(expired(), { action: "ecs:ListClusters" })).toBe(
      "ecs:ListClusters failed: the AWS credentials have expired. Refresh them and try again.",
    );
    expect(explainAwsError(withClientProfile(expired(), "dev"), { action: "ecs:ListClusters" })).toBe(
      "ecs:ListClusters failed: the AWS credentials have expired. Refresh them (aws sso login --profile dev) and try again.",
    );
  });

  it("classifies throttling and transient failures", () => {
    expect(isThrottling(err("ThrottlingException", "x"))).toBe(true);
    expect(isTransient(err("InternalServerError", "x", { $metadata: { httpStatusCode: 500 } }))).toBe(true);
    expect(isTransient(err("InvalidInstanceId", "x", { $metadata: { httpStatusCode: 400 } }))).toBe(false);
  });
});

describe("reading an AWS error through our wrapping", () => {
  const raw = err("NoSuchEntityException", "Role x not found", { $metadata: { httpStatusCode: 404 } });
  const wrapped = new AwsCallError("iam:GetRole on role x failed: …", "iam:GetRole", "NoSuchEntityException", { cause: raw });
  const twice = new AwsCallError("outer", "iam:GetRole", undefined, { cause: wrapped });
  it.each([
    ["the SDK's error", raw],
    ["an AwsCallError", wrapped],
    ["an AwsCallError around an AwsCallError", twice],
  ])("%s: name, status and classification agree", (_, error) => {
    expect(awsErrorName(error)).toBe("NoSuchEntityException");
    expect(httpStatusOf(error)).toBe(404);
    expect(isNotFound(error, "NoSuchEntity", "NoSuchEntityException")).toBe(true);
    expect(isAccessDenied(error)).toBe(false);
  });
  it("sees throttling and 5xx under the wrapping (what the retry policy acts on)", () => {
    const throttled = new AwsCallError("…", "ecs:StopTask", "ThrottlingException", { cause: err("ThrottlingException", "Rate exceeded") });
    const fiveHundred = new AwsCallError("…", "ecs:StopTask", "InternalFailure", {
      cause: err("InternalFailure", "x", { $metadata: { httpStatusCode: 503 } }),
    });
    expect([isTransient(throttled), isTransient(fiveHundred)]).toEqual([true, true]);
    expect(awsErrorName(new Error("plain"))).toBe("Error");
    expect(httpStatusOf(undefined)).toBeUndefined();
  });
});

describe("call", () => {
  it("wraps an SDK failure into one explained line with the original as cause", async () => {
    const ssm = mockClient(SSMClient);
    const denied = err("AccessDeniedException", "not authorized");
    ssm.on(CreateActivationCommand).rejects(denied);
    const client = new SSMClient({ region: "ap-northeast-1" });
    const failure = await call({ action: "ssm:CreateActivation" }, () => client.send(new CreateActivationCommand({ IamRole: "r" }))).catch((e) => e);
    expect(failure).toBeInstanceOf(AwsCallError);
    expect(failure.message).toBe(
      'ssm:CreateActivation was denied: allow "ssm:CreateActivation" for the caller\'s IAM identity (see docker/iam/). AWS said: not authorized',
    );
    expect(failure.action).toBe("ssm:CreateActivation");
    expect(failure.cause).toBe(denied);
    ssm.restore();
  });
});

describe("callPages", () => {
  it("asks for no page after the caller stops, and ends the paginator", async () => {
    let asked = 0;
    let ended = false;
    async function* pages() {
      try {
        for (;;) yield ++asked;
      } finally {
        ended = true;
      }
    }
    for await (const page of callPages({ action: "logs:DescribeLogGroups" }, pages())) if (page === 2) break;
    expect([asked, ended]).toEqual([2, true]);
  });
});

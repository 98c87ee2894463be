import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import {
  AddTagsToResourceCommand,
  CreateActivationCommand,
  DeleteActivationCommand,
  DeleteParameterCommand,
  DeregisterManagedInstanceCommand,
  DescribeInstanceInformationCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  SSMClient,
  SSMServiceException,
} from "@aws-sdk/client-ssm";
import {
  createActivation,
  deleteActivation,
  deleteParameter,
  deregisterInstance,
  findInstanceParameter,
  getInstanceParameter,
  listInstanceParameters,
  listManagedInstances,
  putInstanceParameter,
} from "../../../lib/aws/ssm.ts";
import { AwsCallError } from "../../../lib/aws/errors.ts";

const ssmMock = mockClient(SSMClient);
const ssm = new SSMClient({ region: "eu-west-1" });
const awsError = (name: string, message = name) => new SSMServiceException({ name, message, $fault: "client", $metadata: { httpStatusCode: 400 } });

beforeEach(() => ssmMock.reset());

describe("createActivation", () => {
  it("sends limit 1, the expiry, the name and the tags, and returns the id and code", async () => {
    ssmMock.on(CreateActivationCommand).resolves({ ActivationId: "act-1", ActivationCode: "CODE" });
    const expiresAt = new Date("2030-01-01T01:00:00Z");
    const out = await createActivation(ssm, {
      iamRole: "SSMServiceRole",
      expiresAt,
      defaultInstanceName: "bastionless-stg-x",
      description: "d",
      tags: { "bastionless:env": "stg" },
    });
    expect(out).toEqual({ activationId: "act-1", activationCode: "CODE" });
    expect(ssmMock).toHaveReceivedCommandWith(CreateActivationCommand, {
      IamRole: "SSMServiceRole",
      RegistrationLimit: 1,
      ExpirationDate: expiresAt,
      DefaultInstanceName: "bastionless-stg-x",
      Description: "d",
      Tags: [{ Key: "bastionless:env", Value: "stg" }],
    });
  });

  it("AccessDenied names the IAM action to allow", async () => {
    ssmMock.on(CreateActivationCommand).rejects(awsError("AccessDeniedException", "User: x is not authorized to perform: ssm:CreateActivation"));
    const error = await createActivation(ssm, { iamRole: "R", expiresAt: new Date(), tags: {} }).catch((e) => e);
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error.message).toMatch(/^ssm:CreateActivation on role R was denied: allow "ssm:CreateActivation"/);
  });
});

describe("deletions say whether something was there", () => {
  it("deleteActivation: true, then false once it is gone", async () => {
    ssmMock.on(DeleteActivationCommand).resolvesOnce({}).rejects(awsError("InvalidActivation"));
    expect(await deleteActivation(ssm, "a")).toBe(true);
    expect(await deleteActivation(ssm, "a")).toBe(false);
  });
  it("deregisterInstance: false for an unknown instance, other errors thrown", async () => {
    ssmMock.on(DeregisterManagedInstanceCommand).rejectsOnce(awsError("InvalidInstanceId")).rejects(awsError("ThrottlingException", "Rate exceeded"));
    expect(await deregisterInstance(ssm, "mi-0123456789abcdef0")).toBe(false);
    await expect(deregisterInstance(ssm, "mi-0123456789abcdef0")).rejects.toThrow(
      /ssm:DeregisterManagedInstance on managed instance mi-0123456789abcdef0 was throttled/,
    );
  });
  it("deleteParameter: false when it did not exist", async () => {
    ssmMock.on(DeleteParameterCommand).resolvesOnce({}).rejects(awsError("ParameterNotFound"));
    expect(await deleteParameter(ssm, "/stg/p")).toBe(true);
    expect(await deleteParameter(ssm, "/stg/p")).toBe(false);
  });
});

describe("putInstanceParameter", () => {
  const parameter = { name: "/stg/portforward/instances/t1", instanceId: "mi-0123456789abcdef0", tags: { "bastionless:env": "stg" } };

  it("creates a new parameter with its tags", async () => {
    ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
    expect(await putInstanceParameter(ssm, parameter)).toEqual({ version: 1 });
    expect(ssmMock).toHaveReceivedCommandTimes(PutParameterCommand, 1);
    expect(ssmMock).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: parameter.name,
      Value: parameter.instanceId,
      Type: "String",
      Tags: [{ Key: "bastionless:env", Value: "stg" }],
    });
    expect(ssmMock).not.toHaveReceivedCommand(AddTagsToResourceCommand);
  });

  it("overwrites an existing one without Tags (AWS refuses both), then tags it", async () => {
    ssmMock
      .on(PutParameterCommand, { Overwrite: true })
      .resolves({ Version: 4 })
      .on(PutParameterCommand, { Tags: [{ Key: "bastionless:env", Value: "stg" }] })
      .rejects(awsError("ParameterAlreadyExists"));
    ssmMock.on(AddTagsToResourceCommand).resolves({});
    expect(await putInstanceParameter(ssm, parameter)).toEqual({ version: 4 });
    const overwrite = ssmMock.commandCalls(PutParameterCommand)[1].args[0].input;
    expect(overwrite).toMatchObject({ Overwrite: true, Value: parameter.instanceId });
    expect(overwrite.Tags).toBeUndefined();
    expect(ssmMock).toHaveReceivedCommandWith(AddTagsToResourceCommand, {
      ResourceType: "Parameter",
      ResourceId: parameter.name,
      Tags: [{ Key: "bastionless:env", Value: "stg" }],
    });
  });
});

describe("reading", () => {
  it("findInstanceParameter: the value, or undefined; getInstanceParameter throws naming it", async () => {
    ssmMock
      .on(GetParameterCommand)
      .resolvesOnce({ Parameter: { Value: "mi-0123456789abcdef0" } })
      .rejects(awsError("ParameterNotFound"));
    expect(await findInstanceParameter(ssm, "/a")).toBe("mi-0123456789abcdef0");
    expect(await findInstanceParameter(ssm, "/a")).toBeUndefined();
    await expect(getInstanceParameter(ssm, "/stg/portforward/instances/x")).rejects.toThrow(/Parameter \/stg\/portforward\/instances\/x does not exist/);
  });

  it("listManagedInstances follows every page and sends tag filters", async () => {
    ssmMock
      .on(DescribeInstanceInformationCommand)
      .resolvesOnce({ InstanceInformationList: [{ InstanceId: "mi-00000000000000001", PingStatus: "Online", ActivationId: "a1" }], NextToken: "t2" })
      .resolvesOnce({ InstanceInformationList: [{ InstanceId: "mi-00000000000000002", PingStatus: "ConnectionLost", Name: "n" }] });
    const found = await listManagedInstances(ssm, { tags: { "bastionless:managed-by": "bastionless" } });
    expect(found).toEqual([
      expect.objectContaining({ instanceId: "mi-00000000000000001", pingStatus: "Online", activationId: "a1" }),
      expect.objectContaining({ instanceId: "mi-00000000000000002", pingStatus: "ConnectionLost", name: "n" }),
    ]);
    expect(ssmMock).toHaveReceivedNthCommandWith(DescribeInstanceInformationCommand, 1, {
      Filters: [{ Key: "tag:bastionless:managed-by", Values: ["bastionless"] }],
      MaxResults: 50,
    });
    expect(ssmMock).toHaveReceivedNthCommandWith(DescribeInstanceInformationCommand, 2, { NextToken: "t2" });
  });

  it("listManagedInstances explains a page that fails as it would one call, and asks for no page after it", async () => {
    ssmMock
      .on(DescribeInstanceInformationCommand)
      .resolvesOnce({ InstanceInformationList: [{ InstanceId: "mi-00000000000000001" }], NextToken: "t2" })
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $metadata: { attempts: 3 } }))
      .resolves({ InstanceInformationList: [{ InstanceId: "mi-00000000000000003" }] });
    await expect(listManagedInstances(ssm)).rejects.toThrow(
      new AwsCallError(
        "ssm:DescribeInstanceInformation was throttled by AWS after 3 attempts: try again in a minute, or lower the request rate.",
        "ssm:DescribeInstanceInformation",
        "ThrottlingException",
      ),
    );
    expect(ssmMock.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(2);
  });

  it("listInstanceParameters follows every page", async () => {
    ssmMock
      .on(GetParametersByPathCommand)
      .resolvesOnce({ Parameters: [{ Name: "/stg/portforward/instances/a", Value: "mi-1" }], NextToken: "n" })
      .resolvesOnce({ Parameters: [{ Name: "/stg/portforward/instances/b", Value: "mi-2" }] });
    expect((await listInstanceParameters(ssm, "/stg/portforward/instances/")).map((p) => [p.name, p.value])).toEqual([
      ["/stg/portforward/instances/a", "mi-1"],
      ["/stg/portforward/instances/b", "mi-2"],
    ]);
  });
});

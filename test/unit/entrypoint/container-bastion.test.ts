// The registration/cleanup orchestration with a mocked SSM and a tiny real agent script.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateActivationCommand,
  DeleteActivationCommand,
  DeleteParameterCommand,
  DeregisterManagedInstanceCommand,
  DescribeInstanceInformationCommand,
  GetParameterCommand,
  PutParameterCommand,
  SSMClient,
  SSMServiceException,
} from "@aws-sdk/client-ssm";
import { startBastion, type Bastion } from "../../../lib/entrypoint/container-bastion.ts";
import { createLogger, type Fields } from "../../../lib/log.ts";

const ID = "mi-0123456789abcdef0";
const ACTIVATION = { ActivationId: "3b1c2d4e-0000-4000-8000-000000000001", ActivationCode: "SECRETCODE0123456789xyz" };
const ssmMock = mockClient(SSMClient);
const ssm = new SSMClient({ region: "eu-west-1" });
const awsError = (name: string, status = 400) =>
  new SSMServiceException({ name, message: name, $fault: status >= 500 ? "server" : "client", $metadata: { httpStatusCode: status } });
const delayed =
  <T>(ms: number, value: T) =>
  () =>
    new Promise<T>((r) => setTimeout(() => r(value), ms));

let dir: string;
let lines: string[];
let bastion: Bastion | undefined;

/** -register: writes the file and prints the line (or hangs with REGISTER_HANG); no args: runs until killed. */
function agentScript(): string {
  const path = join(dir, "agent");
  writeFileSync(
    path,
    `#!/bin/sh
if [ "$1" = "-register" ]; then
  if [ -n "$REGISTER_HANG" ]; then exec sleep 30; fi
  printf '{"ManagedInstanceID":"${ID}","Region":"eu-west-1"}' > "${dir}/registration"
  echo "INFO Successfully registered the instance with AWS SSM using Managed instance-id: ${ID}"
  exit 0
fi
exec sleep 600
`,
  );
  chmodSync(path, 0o755);
  return path;
}

function start(overrides: { parameterName?: string; registerHangs?: boolean; callerUserId?: () => Promise<string> } = {}): Bastion {
  const log = createLogger({ format: "json", write: (l) => lines.push(l) });
  bastion = startBastion(
    {
      env: "stg",
      iamRole: "SSMServiceRole",
      region: "eu-west-1",
      tags: { team: "core" },
      activationTtlMs: 3_600_000,
      agentBin: agentScript(),
      registrationFile: join(dir, "registration"),
      ...(overrides.parameterName ? { parameterName: overrides.parameterName } : {}),
    },
    {
      ssm,
      log,
      findSource: async () => ({ platform: "host", source: "host:box", sourceId: "box" }),
      agentEnv: { ...process.env, REGISTER_HANG: overrides.registerHangs ? "1" : "" },
      retry: { attempts: 5, baseMs: 10, capMs: 50 },
      ...(overrides.callerUserId ? { callerUserId: overrides.callerUserId } : {}),
      undoTimeoutMs: 3_000,
      cleanup: { ssm, retry: { baseMs: 10, capMs: 50 }, agentStopMs: 500 },
    },
  );
  return bastion;
}
const events = (): Fields[] => lines.map((l) => JSON.parse(l));

beforeEach(() => {
  ssmMock.reset();
  dir = mkdtempSync(join(tmpdir(), "bastion-test-"));
  lines = [];
  ssmMock.on(CreateActivationCommand).resolves(ACTIVATION);
  ssmMock.on(DeleteActivationCommand).resolves({});
  ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
  ssmMock.on(DeregisterManagedInstanceCommand).resolves({});
  ssmMock.on(DeleteParameterCommand).resolves({});
});
afterEach(async () => {
  await bastion?.stop(Date.now() + 2_000);
  bastion = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe("startBastion", () => {
  it("registers in order, deletes the activation at once, and cleans up exactly what it made", async () => {
    const b = start();
    expect(await b.registered).toBe(ID);
    expect(ssmMock).toHaveReceivedCommandWith(CreateActivationCommand, {
      IamRole: "SSMServiceRole",
      RegistrationLimit: 1,
      DefaultInstanceName: "bastionless-stg-box",
    });
    const tags = ssmMock.commandCalls(CreateActivationCommand)[0].args[0].input.Tags!;
    expect(Object.fromEntries(tags.map((t) => [t.Key, t.Value]))).toMatchObject({
      team: "core",
      "bastionless:managed-by": "bastionless",
      "bastionless:env": "stg",
      "bastionless:source": "host:box",
    });
    expect(ssmMock).toHaveReceivedCommandWith(DeleteActivationCommand, { ActivationId: ACTIVATION.ActivationId });
    expect(ssmMock).toHaveReceivedCommandWith(PutParameterCommand, { Name: "/stg/portforward/instances/box", Value: ID });
    expect(
      events()
        .map((e) => e.event)
        .filter((e) => e !== "agent_output"),
    ).toEqual(["source_found", "activation_created", "registered", "activation_deleted", "parameter_written", "agent_started", "registration_complete"]);
    expect(b.created.agent?.pid()).toBeGreaterThan(0);

    const steps = await b.stop(Date.now() + 3_000);
    expect(steps.map((s) => [s.step, s.ok, s.outcome])).toEqual([
      ["agent", true, "stopped"],
      ["instance", true, `deregistered ${ID}`],
      ["parameter", true, "deleted /stg/portforward/instances/box"],
      ["activation", true, "nothing to do"],
    ]);
    expect(ssmMock).toHaveReceivedCommandTimes(DeleteActivationCommand, 1);
    expect(b.created.agent?.pid()).toBeUndefined();
    // Once-only: a second stop is the same cleanup, no new calls.
    expect(await b.stop(Date.now() + 3_000)).toBe(steps);
    expect(ssmMock).toHaveReceivedCommandTimes(DeregisterManagedInstanceCommand, 1);
    expect(lines.join("\n")).not.toContain(ACTIVATION.ActivationCode);
  });

  it("tags the parameter with its writer's aws:userid (the only one the IAM policy lets rewrite it); the activation carries no writer", async () => {
    let calls = 0;
    const b = start({
      callerUserId: async () =>
        ++calls === 1 ? Promise.reject(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" })) : "AROAEXAMPLE:5f2e",
    });
    expect(await b.registered).toBe(ID);
    const tagsOf = (input: { Tags?: Array<{ Key?: string; Value?: string }> }) => Object.fromEntries((input.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tagsOf(ssmMock.commandCalls(PutParameterCommand)[0].args[0].input)).toMatchObject({
      "bastionless:writer-id": "AROAEXAMPLE:5f2e",
      "bastionless:env": "stg",
    });
    expect(tagsOf(ssmMock.commandCalls(CreateActivationCommand)[0].args[0].input)).not.toHaveProperty("bastionless:writer-id");
    expect(calls).toBe(2);
  });

  it("a stop while CreateActivation is in flight waits for its answer, then deletes that activation", async () => {
    ssmMock.on(CreateActivationCommand).callsFake(delayed(300, ACTIVATION));
    const b = start();
    await new Promise((r) => setTimeout(r, 50));
    const steps = await b.stop(Date.now() + 3_000);
    expect(steps.find((s) => s.step === "activation")).toMatchObject({ ok: true, outcome: `deleted ${ACTIVATION.ActivationId}` });
    expect(steps.find((s) => s.step === "instance")?.outcome).toBe("nothing to do");
    await expect(b.registered).rejects.toThrow(/Registration stopped/);
    expect(ssmMock).not.toHaveReceivedCommand(PutParameterCommand);
  });

  it("a -register cut short at the deadline: the instance is found through its activation and deregistered", async () => {
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: ID, ActivationId: ACTIVATION.ActivationId }] });
    const b = start({ registerHangs: true });
    while (!b.created.registerStarted) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    const steps = await b.stop(Date.now() + 1_000);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(ssmMock).toHaveReceivedCommandWith(DescribeInstanceInformationCommand, { Filters: [{ Key: "ActivationIds", Values: [ACTIVATION.ActivationId] }] });
    expect(steps.find((s) => s.step === "instance")).toMatchObject({ ok: true, outcome: `deregistered ${ID}` });
    expect(steps.find((s) => s.step === "activation")?.ok).toBe(true);
  });

  it("throttling and 5xx are retried; AccessDenied is not, and a failed registration undoes itself", async () => {
    ssmMock.on(CreateActivationCommand).rejectsOnce(awsError("ThrottlingException")).rejectsOnce(awsError("InternalServerError", 500)).resolves(ACTIVATION);
    ssmMock.on(PutParameterCommand).rejects(awsError("AccessDeniedException"));
    const b = start();
    await expect(b.registered).rejects.toThrow(
      /Registration failed at put-parameter: ssm:PutParameter on parameter \/stg\/portforward\/instances\/box was denied: allow "ssm:PutParameter"/,
    );
    expect(ssmMock).toHaveReceivedCommandTimes(CreateActivationCommand, 3);
    expect(ssmMock).toHaveReceivedCommandTimes(PutParameterCommand, 1);
    // Undone: the instance deregistered. The refused write wrote nothing, so no DeleteParameter (the
    // role may delete only a parameter it wrote: AWS would refuse that call too).
    expect(ssmMock).toHaveReceivedCommandWith(DeregisterManagedInstanceCommand, { InstanceId: ID });
    expect(ssmMock).not.toHaveReceivedCommand(DeleteParameterCommand);
    expect(events().find((e) => e.event === "registration_failed")).toMatchObject({ step: "put-parameter" });
    // Nothing to do for the parameter step, which therefore logs nothing (and no error).
    expect(events().filter((e) => e.event === "cleanup_step" && e.step === "parameter")).toEqual([]);
  });

  it("a PutParameter that kept failing with 5xx may have written the parameter: the cleanup deletes it", async () => {
    ssmMock.on(PutParameterCommand).rejects(awsError("InternalServerError", 500));
    const b = start();
    await expect(b.registered).rejects.toThrow(/Registration failed at put-parameter/);
    expect(ssmMock).toHaveReceivedCommandWith(DeleteParameterCommand, { Name: "/stg/portforward/instances/box" });
  });

  it("a deregister and a delete refused because a sweep removed both first: already gone, not a failure; still there, the refusal stands", async () => {
    const b = start();
    await b.registered;
    // AWS refuses what carries no tags, and what is gone carries none: AccessDenied, not "not found".
    ssmMock.on(DeregisterManagedInstanceCommand).rejects(awsError("AccessDeniedException"));
    ssmMock.on(DeleteParameterCommand).rejects(awsError("AccessDeniedException"));
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
    ssmMock.on(GetParameterCommand).rejects(awsError("ParameterNotFound"));
    const steps = await b.stop(Date.now() + 2_000);
    expect(steps.filter((s) => s.step === "instance" || s.step === "parameter").map((s) => [s.step, s.ok, s.outcome])).toEqual([
      ["instance", true, `already gone ${ID}`],
      ["parameter", true, "already gone /stg/portforward/instances/box"],
    ]);
    expect(ssmMock).toHaveReceivedCommandWith(DescribeInstanceInformationCommand, { Filters: [{ Key: "InstanceIds", Values: [ID] }] });

    const again = start();
    await again.registered;
    ssmMock.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: ID, PingStatus: "Online" }] });
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: ID } });
    const refused = await again.stop(Date.now() + 1_000);
    expect(refused.filter((s) => s.step === "instance" || s.step === "parameter").map((s) => [s.step, s.ok, s.error?.replace(/: allow .*/, "")])).toEqual([
      ["instance", false, `ssm:DeregisterManagedInstance on managed instance ${ID} was denied`],
      ["parameter", false, "ssm:DeleteParameter on parameter /stg/portforward/instances/box was denied"],
    ]);
  });

  it("every cleanup step is attempted when another keeps failing, and the cleanup ends by the deadline", async () => {
    const b = start();
    await b.registered;
    ssmMock.on(DeregisterManagedInstanceCommand).rejects(awsError("InternalServerError", 500));
    const started = Date.now();
    const steps = await b.stop(Date.now() + 800);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(steps.find((s) => s.step === "instance")).toMatchObject({ ok: false, outcome: "failed" });
    expect(steps.find((s) => s.step === "parameter")).toMatchObject({ ok: true });
    expect(steps.find((s) => s.step === "agent")).toMatchObject({ ok: true });
    expect(ssmMock.commandCalls(DeregisterManagedInstanceCommand).length).toBeGreaterThan(2);
    expect(events().find((e) => e.event === "cleanup_done")).toMatchObject({ ok: false });
  });

  it("a shared parameter (BASTION_PARAMETER_NAME) taken over by a newer container is kept", async () => {
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: "mi-fffffffffffffffff" } });
    const b = start({ parameterName: "/stg/portforward/ssminstanceid" });
    await b.registered;
    const steps = await b.stop(Date.now() + 3_000);
    expect(steps.find((s) => s.step === "parameter")?.outcome).toBe("kept: /stg/portforward/ssminstanceid now holds mi-fffffffffffffffff");
    expect(ssmMock).not.toHaveReceivedCommand(DeleteParameterCommand);
  });
});

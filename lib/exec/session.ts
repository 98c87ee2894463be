// exec's session, from the audit record written before anything runs to the record of how it ended:
// the command wrapped with its banner, the transcript's location said up front, the output filtered
// when it is not a terminal, and a signal or a closed output ending the remote command before we exit.
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, guardOutput } from "../cli.ts";
import type { AwsClients } from "../aws/clients.ts";
import { awsErrorName } from "../aws/errors.ts";
import { describeExecTaskDefinition } from "../aws/ecs.ts";
import { getCallerIdentity } from "../aws/sts.ts";
import { describeScope } from "../config.ts";
import { localUser } from "../local.ts";
import { createLogger, escapeControl } from "../log.ts";
import { makeParentWatch } from "../process.ts";
import { startShell, type ClientChoice, type Shell } from "../session/index.ts";
import { newAuditId, openAuditLog, transcriptLocation, type AuditLog } from "./audit.ts";
import { bannerLine, isInteractiveShell, wrapCommand } from "./command.ts";
import { describeEnding, endingExitCode, watchEnding, type Ending } from "./ending.ts";
import { endOutput, plainOutput } from "./output.ts";
import { describeStartFailure } from "./failure.ts";
import type { CheckResult } from "./checks.ts";
import { checkTarget, writeReport, type Failure } from "./preflight.ts";
import type { ExecRequest } from "./request.ts";
import type { FoundTarget } from "./target.ts";

export interface ExecRun {
  request: ExecRequest;
  clients: AwsClients;
  region: string;
  found: FoundTarget;
  note: (line: string) => void;
}

/** What exec.start recorded, and what the rest of the run adds to. */
interface Started {
  auditId: string;
  audit: AuditLog;
  sentCommand: string;
  /** The container's awslogs group, where the cluster sends transcripts by default. */
  awslogs: string | undefined;
}

/** Runs the session; its exit code (the remote one, or how a signal or a closed output ended it). */
export async function runSession(run: ExecRun): Promise<number> {
  const started = await recordStart(run);
  const stdout = remoteOutput(run.request.command, started.auditId, run.note);
  // Not a terminal: the plugin, writing straight to our stdout, cannot keep our lines off it.
  const client: ClientChoice = stdout && run.request.client === "auto" ? "native" : run.request.client;
  // From here on a signal or a closed output ends the session (and the remote command) before we exit.
  const ending = watchEnding(guardOutput(process.stdout).gone, process, makeParentWatch());
  let shell: Shell;
  try {
    shell = await openShell(run, started, client, stdout);
  } catch (error) {
    ending.dispose();
    return failedToStart(run, started, error);
  }
  started.audit.write({ event: "exec.session", auditId: started.auditId, sessionId: shell.sessionId, client: shell.client });
  const remote = await Promise.race([shell.exit, ending.ended]);
  const ended = ending.current();
  // TerminateSession lands before the exit is reported: stop() waits for it.
  if (ended) await shell.stop();
  // What the filter still holds (a last line without its end) goes out before the exit, for a few
  // seconds at most: a reader that stopped reading cannot hold up the exit code and the audit's end.
  if (stdout && !ended) await endOutput(stdout as unknown as NodeJS.WritableStream);
  ending.dispose();
  return ended ? endedHere(run, started, shell, ended) : endedRemotely(run, started, shell, remote as number);
}

/** exec.start, written before the session exists, and the lines that say where this session is recorded. */
async function recordStart(run: ExecRun): Promise<Started> {
  const { request, clients, region, note, found } = run;
  const { target, cluster, task } = found;
  const auditId = newAuditId();
  // Only a bare shell goes unwrapped: a configured exec.shell that runs anything else gets the banner too.
  const sentCommand = wrapCommand(request.command, { auditId });
  const awslogs = cluster.execLogging === "OVERRIDE" ? undefined : await containerAwslogsGroup(clients, task.taskDefinitionArn, target.container);
  const awsIdentity = await getCallerIdentity(clients.sts).then(
    (id) => id.arn,
    () => undefined,
  );
  const transcriptAt = transcriptLocation(cluster, region, awslogs);
  const audit = openAuditLog();
  const { env } = request.flags;
  audit.write({
    event: "exec.start",
    auditId,
    user: localUser(),
    awsIdentity,
    env,
    profile: request.profile,
    region,
    cluster: target.cluster,
    task: task.taskArn,
    container: target.container,
    command: request.command,
    sentCommand,
    client: request.client,
    transcript: transcriptAt,
  });
  note(describeScope({ configPath: request.config?.path, env, profile: request.profile ?? process.env.AWS_PROFILE, region, cluster: target.cluster }));
  note(`Exec into ${target.cluster}/${task.taskId}/${target.container}: ${escapeControl(request.command)} (audit ${auditId} in ${audit.path})`);
  note(
    transcriptAt
      ? `The cluster records this session: ${transcriptAt}.`
      : `The cluster keeps no transcript of this session (${whyNoTranscript(cluster.execLogging, target.container)}).`,
  );
  return { auditId, audit, sentCommand, awslogs };
}

function containerAwslogsGroup(clients: AwsClients, taskDefinitionArn: string | undefined, container: string): Promise<string | undefined> {
  return describeExecTaskDefinition(clients.ecs, taskDefinitionArn ?? "").then(
    (td) => td.containerExtras.find((c) => c.name === container)?.awslogsGroup,
    () => undefined,
  );
}

function whyNoTranscript(execLogging: string | undefined, container: string): string {
  const logging = `exec logging ${execLogging ?? "DEFAULT"}`;
  return execLogging === "NONE" ? logging : `${logging}, container ${container} has no awslogs driver`;
}

/** Not a terminal: stdout carries only the remote output (\n endings), our lines go to stderr. */
function remoteOutput(command: string, auditId: string, note: (line: string) => void): NodeJS.WriteStream | undefined {
  if (process.stdout.isTTY) return undefined;
  const banner = isInteractiveShell(command) ? undefined : bannerLine(command, auditId);
  return plainOutput({ out: process.stdout, note, banner }) as unknown as NodeJS.WriteStream;
}

function openShell(run: ExecRun, started: Started, client: ClientChoice, stdout: NodeJS.WriteStream | undefined): Promise<Shell> {
  const { target, task } = run.found;
  return startShell({
    clients: run.clients,
    region: run.region,
    profile: run.request.profile,
    client,
    stdout,
    log: createLogger({ format: "human", debug: run.request.flags.debug }),
    via: { kind: "ecs", cluster: target.cluster, task: task.taskArn, container: target.container, command: started.sentCommand, target: target.ssmTarget },
  });
}

async function failedToStart(run: ExecRun, started: Started, error: unknown): Promise<number> {
  const failure = { errorName: awsErrorName(error) ?? (error as Error).name, message: (error as Error).message };
  started.audit.write({ event: "exec.end", auditId: started.auditId, exitCode: EXIT_FAILURE, error: failure.message });
  started.audit.close();
  // The checks first: when they say why the agent is unreachable, the line says it too.
  const results = await checksAfter(run, failure);
  const { target } = run.found;
  run.note(`exec: ${describeStartFailure(failure, results, { cluster: target.cluster, taskId: target.task.taskId })}`);
  writeReport(run.found, results, failure, process.stderr);
  return EXIT_FAILURE;
}

/** The pre-flight checks on this run's target after `failure` (a start that failed, a session that ended badly). */
function checksAfter(run: ExecRun, failure: Failure): Promise<CheckResult[]> {
  return checkTarget(run.clients, run.found, { client: run.request.client, failure });
}

/** A signal, a closed output or make's death ended it: the session was terminated. */
function endedHere(run: ExecRun, started: Started, shell: Shell, ended: Ending): number {
  const code = endingExitCode(ended);
  started.audit.write({ event: "exec.end", auditId: started.auditId, sessionId: shell.sessionId, exitCode: code, endedBy: describeEnding(ended) });
  started.audit.close();
  run.note(`exec: ${describeEnding(ended)}: session ${shell.sessionId} terminated.`);
  return code;
}

async function endedRemotely(run: ExecRun, started: Started, shell: Shell, code: number): Promise<number> {
  started.audit.write({ event: "exec.end", auditId: started.auditId, sessionId: shell.sessionId, exitCode: code });
  started.audit.close();
  const transcript = transcriptLocation(run.found.cluster, run.region, started.awslogs, shell.sessionId);
  if (transcript) run.note(`Session ${shell.sessionId} transcript: ${transcript}`);
  if (code !== EXIT_OK && code !== EXIT_INTERRUPTED) {
    const failure = { message: `the session ended with code ${code}` };
    writeReport(run.found, await checksAfter(run, failure), failure, process.stderr);
  }
  return code;
}

// exec: ECS Exec into a task's container — finds the task for you, records the command in a local
// audit log before it runs, and explains with pre-flight checks why ECS Exec fails when it does.
// allow-list → selectCluster → selectTask → selectContainer → (--check stops here) → audit → session.
import { CLIENT_CHOICES, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError, choiceProblem, parseFlags, runMain, usage, type ClientFlag } from "../lib/cli.ts";
import { awsNow, createClients, requireRegion } from "../lib/aws/clients.ts";
import { awsErrorName } from "../lib/aws/errors.ts";
import { describeCluster, describeExecTaskDefinition } from "../lib/aws/ecs.ts";
import { getCallerIdentity } from "../lib/aws/sts.ts";
import { describeScope, envConfig, loadConfig } from "../lib/config.ts";
import { createLogger, escapeControl, findSecretShape } from "../lib/log.ts";
import { canPrompt } from "../lib/prompts.ts";
import { startShell, type ClientChoice } from "../lib/session/index.ts";
import { DEFAULT_SHELL, assertAllowed, assertClusterOfEnv, assertEnvForAllowLists, assertShellHasTerminal, wrapCommand } from "../lib/exec/command.ts";
import { selectCluster, selectContainer, selectTask, toExecTarget, type ExecTarget } from "../lib/exec/target.ts";
import { evaluateChecks, formatReport, summarize, type ExecFacts } from "../lib/exec/checks.ts";
import { gatherFacts } from "../lib/exec/facts.ts";
import { newAuditId, openAuditLog, transcriptLocation } from "../lib/exec/audit.ts";
import { localUser } from "../lib/local.ts";
import { cli } from "../lib/exec/cli.ts";

await runMain(async () => {
  const flags = parseFlags(cli, process.argv.slice(2));
  if (flags.help) return void process.stdout.write(usage(cli));
  const config = loadConfig();
  const guarded = assertEnvForAllowLists(config, flags.env);
  const settings = envConfig(config, flags.env);
  const command = flags.command ?? settings.exec?.shell ?? DEFAULT_SHELL;
  assertAllowed(command, settings.exec?.allow, { env: flags.env, configPath: config?.path });
  const client = checkClient(flags.client ?? settings.client ?? "auto");
  if (!flags.check) assertShellHasTerminal(command, process.stdin);

  const profile = flags.profile ?? settings.profile;
  const clients = createClients({ profile, region: flags.region ?? settings.region });
  const region = await requireRegion(clients);
  const note = (line: string) => process.stderr.write(line + "\n");
  const secretShape = findSecretShape(command);
  if (secretShape) note(`warning: The command carries what looks like ${secretShape}: it is recorded as typed in the audit log, the cluster's session transcript and CloudTrail. Pass secrets through the task's environment or secrets instead.`);
  const prompt = { interactive: canPrompt(flags.yes), note };

  const cluster = await selectCluster(clients.ecs, prompt, { cluster: flags.cluster ?? settings.cluster, task: flags.task, env: flags.env });
  if (guarded) assertClusterOfEnv(cluster, flags.env!, config!);
  const clusterInfo = await describeCluster(clients.ecs, cluster);
  if (!clusterInfo) throw new UsageError(`Cluster ${cluster} was not found in ${region}: check --cluster, --profile and --region.`);
  const service = flags.task ? undefined : flags.service ?? settings.service;
  const task = await selectTask(clients.ecs, prompt, { cluster, task: flags.task, service, now: awsNow(clients.ecs) });
  const target = toExecTarget(cluster, task, await selectContainer(prompt, task, flags.container));
  if (guarded) assertClusterOfEnv(target.cluster, flags.env!, config!);
  const preflight = (failure?: ExecFacts["failure"], out: NodeJS.WritableStream = process.stderr) => reportChecks(clients, clusterInfo, target, { service, client, failure, out });

  if (flags.check) return (await preflight(undefined, process.stdout)) ? EXIT_OK : EXIT_FAILURE;

  const auditId = newAuditId();
  // Only a bare shell goes unwrapped: a configured exec.shell that runs anything else gets the banner too.
  const sentCommand = wrapCommand(command, { auditId });
  const awslogs = clusterInfo.execLogging === "OVERRIDE" ? undefined : await describeExecTaskDefinition(clients.ecs, task.taskDefinitionArn ?? "").then((td) => td.containerExtras.find((c) => c.name === target.container)?.awslogsGroup, () => undefined);
  const awsIdentity = await getCallerIdentity(clients.sts).then((id) => id.arn, () => undefined);
  const transcriptAt = transcriptLocation(clusterInfo, region, awslogs);
  const audit = openAuditLog();
  audit.write({ event: "exec.start", auditId, user: localUser(), awsIdentity, env: flags.env, profile, region, cluster: target.cluster, task: task.taskArn, container: target.container, command, sentCommand, client, transcript: transcriptAt });
  note(describeScope({ configPath: config?.path, env: flags.env, profile: profile ?? process.env.AWS_PROFILE, region, cluster: target.cluster }));
  note(`Exec into ${target.cluster}/${task.taskId}/${target.container}: ${escapeControl(command)} (audit ${auditId} in ${audit.path})`);
  note(transcriptAt ? `The cluster records this session: ${transcriptAt}.` : `The cluster keeps no transcript of this session (exec logging ${clusterInfo.execLogging ?? "DEFAULT"}${clusterInfo.execLogging === "NONE" ? "" : `, container ${target.container} has no awslogs driver`}).`);

  let shell;
  try {
    shell = await startShell({ clients, region, profile, client, log: createLogger({ format: "human", debug: flags.debug }), via: { kind: "ecs", cluster: target.cluster, task: task.taskArn, container: target.container, command: sentCommand, target: target.ssmTarget } });
  } catch (error) {
    const failure = { errorName: awsErrorName(error) ?? (error as Error).name, message: (error as Error).message };
    audit.write({ event: "exec.end", auditId, exitCode: EXIT_FAILURE, error: failure.message });
    audit.close();
    note(`exec: ${failure.message}`);
    await preflight(failure);
    return EXIT_FAILURE;
  }
  audit.write({ event: "exec.session", auditId, sessionId: shell.sessionId, client: shell.client });
  const code = await shell.exit;
  audit.write({ event: "exec.end", auditId, sessionId: shell.sessionId, exitCode: code });
  audit.close();
  const transcript = transcriptLocation(clusterInfo, region, awslogs, shell.sessionId);
  if (transcript) note(`Session ${shell.sessionId} transcript: ${transcript}`);
  if (code !== EXIT_OK && code !== EXIT_INTERRUPTED) await preflight({ message: `the session ended with code ${code}` });
  clients.destroy();
  return code;
}, { name: "exec" });

function checkClient(value: string): ClientFlag {
  const problem = choiceProblem("--client", value, CLIENT_CHOICES);
  if (problem) throw new UsageError(`${problem}.`);
  return value as ClientFlag;
}

async function reportChecks(clients: ReturnType<typeof createClients>, cluster: NonNullable<Awaited<ReturnType<typeof describeCluster>>>, target: ExecTarget, options: { service?: string; client: ClientChoice; failure?: ExecFacts["failure"]; out: NodeJS.WritableStream }): Promise<boolean> {
  const facts = await gatherFacts(clients, { cluster, task: target.task, container: target.container, service: options.service, plugin: options.client === "plugin" ? {} : undefined, failure: options.failure });
  const results = evaluateChecks(facts);
  options.out.write(`Pre-flight checks for ${target.cluster}/${target.task.taskId}/${target.container}:\n${formatReport(results)}${summarize(results, options.failure)}\n`);
  return !results.some((r) => r.status === "fail");
}

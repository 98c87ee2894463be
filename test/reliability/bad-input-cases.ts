// The bad input table: what a user or an operator gets wrong, or AWS refuses, for each of
// the four programs — and the one line each must answer with. Run by bad-input.test.ts.
import { execFile } from "node:child_process";
import { hostname } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { DescribeServicesCommand, RunTaskCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { CreateActivationCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { ssmInstanceRoleName, type FaultSpec, type LocalCloud } from "../localcloud/index.ts";
import { eventually } from "../support/eventually.ts";
import { PLUGIN_INSTALL_URL } from "../../lib/session/plugin.ts";
import { MIN_PLUGIN_VERSION } from "../../lib/session/versions.ts";
import { ourTags, parameterName, startedBy } from "../../lib/constants.ts";

export type Program = "entrypoint" | "portforward" | "exec" | "cleanup-orphans";

export type Category =
  | "env or flag"
  | "unknown object"
  | "config file"
  | "local port"
  | "no TTY"
  | "access denied"
  | "expired credentials"
  | "throttling"
  | "agent"
  | "plugin"
  | "registration file"
  | "target refuses";

export const REPO = join(import.meta.dirname, "../..");
export const FIXTURES = join(REPO, "test/reliability/fixtures/bad-input");
const PLUGIN_DIR = join(REPO, "test/fixtures");
const FAKE_AGENT = join(REPO, "test/localcloud/bin/amazon-ssm-agent");

/** What a case may refer to: known only once the local clouds run. */
export interface CaseContext {
  region: string;
  /** A port another program listens on (127.0.0.1). */
  busyPort: number;
  /** The demo world's stg-app task (RUNNING, ECS Exec enabled). */
  appTaskId: string;
  /** A temp dir of the case's own. */
  dir: string;
  /** The ids a case's seed created. */
  seeded: Record<string, string>;
  /** The credentials the program runs with: its principal's (the operator, the sweeper, the entrypoint's task role). */
  credentials: Record<string, string>;
}

/** What a seed gets: clients on the case's cloud, before the faults are set. */
export interface SeedKit {
  cloud: LocalCloud;
  ssm: SSMClient;
  ecs: ECSClient;
  dir: string;
}

/** What a case's run printed, for messages that name what the run created (an activation id, a task id). */
export interface RunOutput {
  stdout: string;
  stderr: string;
  /** The entrypoint's JSON log events. */
  events: Array<Record<string, unknown>>;
}

export interface BadInputCase {
  program: Program;
  category: Category;
  name: string;
  args?: string[] | ((c: CaseContext) => string[]);
  /** Added to the cloud's env; undefined removes a variable. */
  env?: Record<string, string | undefined> | ((c: CaseContext) => Record<string, string | undefined>);
  /** Files written into the case's dir before the run (an AWS config for --profile). */
  files?: Record<string, string> | ((c: CaseContext) => Record<string, string>);
  /** Working directory (default: the repository root, which has no bastionless.config.json). */
  cwd?: string;
  faults?: FaultSpec;
  /** The entrypoint: a CMD (default none: a pure bastion, whose failed registration fails the container). */
  cmd?: string[];
  /** Orphans put in the cloud before the run (cleanup-orphans' apply step); their ids go to `seeded`. */
  seed?: (kit: SeedKit) => Promise<Record<string, string>>;
  /** Something to do while it runs: SIGTERM once registered; connect to the forward, then Ctrl-C. */
  drive?: "sigterm-when-registered" | "connect-then-interrupt";
  /** Creates something in the cloud on its way (or runs under faults): runs alone. */
  serial?: boolean;
  code: number;
  /**
   * The one line: for the CLIs the stderr line starting with "<program>: " (or "warning: " with
   * `line: "warning"`), for the entrypoint the message of its one error event; null = no such line.
   */
  message: string | null | ((c: CaseContext, out: RunOutput) => string);
  /** cleanup-orphans' stdout lines: "failed" for an action that failed ("  failed: …"), "dry run" for "Dry run: …". */
  line?: "warning" | "failed" | "dry run";
  /**
   * The calls the local cloud's IAM refuses, as AWS would ("<action> on <resource ARN>"): the
   * program's principal holds exactly its rendered policy, and any other refusal fails the case.
   */
  refused?: string[];
  /** What the program cannot remove and says so (the remedy names it), counted per kind. */
  leaves?: { activations?: number; instances?: number; parameters?: number; tasks?: number };
}

const DENIED_BY = "User: arn:aws:iam::123456789012:user/dev is not authorized to perform";

function denied(operation: string): FaultSpec {
  return { [operation]: { failNext: { count: 999, code: "AccessDeniedException", status: 400, message: `${DENIED_BY}: ${operation}` } } } as FaultSpec;
}

function expired(operation: string): FaultSpec {
  return {
    [operation]: { failNext: { count: 999, code: "ExpiredTokenException", status: 400, message: "The security token included in the request is expired" } },
  } as FaultSpec;
}

/** A bucket that never refills: every call is throttled for as long as the case runs. */
function throttled(operation: string): FaultSpec {
  return { [operation]: { throttle: { tps: 0.0001, burst: 0.0001 } } } as FaultSpec;
}

/** lib/aws/errors.ts's line for an AccessDenied injected by `denied`. */
function denial(action: string, on?: string): string {
  return `${action}${on ? ` on ${on}` : ""} was denied: allow "${action}" for the caller's IAM identity (see docker/iam/). AWS said: ${DENIED_BY}: ${action}`;
}

function deniedLine(program: string, action: string, on?: string): string {
  return `${program}: ${denial(action, on)}`;
}

const HOST = hostname();
const PARAMETER = parameterName("stg", HOST);
/** The SSM service role the entrypoint's task role may pass (what its rendered policy names). */
const ROLE = ssmInstanceRoleName("stg");

// ── entrypoint ────────────────────────────────────────────────────────────────────────────────
// Env only; registration failing without a CMD fails the container (exit 1) after removing what it made.
const EP_ENV = (c: CaseContext) => ({
  BASTION_ENV: "stg",
  BASTION_IAM_ROLE: ROLE,
  BASTION_REGION: c.region,
  SSM_AGENT_BIN: FAKE_AGENT,
  SSM_REGISTRATION_FILE: join(c.dir, "var/lib/amazon/ssm/registration"),
  BASTION_SHUTDOWN_TIMEOUT: "3s",
});
const epEnv = (extra: Record<string, string | undefined>) => (c: CaseContext) => ({ ...EP_ENV(c), ...extra });
const registrationFailed = (step: string, why: string) => `Registration failed at ${step}: ${why}`;

const entrypoint: Omit<BadInputCase, "program">[] = [
  {
    category: "env or flag",
    name: "every required variable missing: all three named in one message",
    env: {
      BASTION_ENV: undefined,
      ENV: undefined,
      BASTION_IAM_ROLE: undefined,
      BASTION_REGION: undefined,
      AWS_REGION: undefined,
      AWS_DEFAULT_REGION: undefined,
    },
    code: 2,
    message:
      "The entrypoint's configuration has 3 problems; no CMD was started: (1) BASTION_ENV (or ENV) is missing: the environment name, e.g. stg (2) BASTION_IAM_ROLE is missing: the IAM role for the managed instance, trusted by ssm.amazonaws.com (3) BASTION_REGION (or AWS_REGION) is missing: the region to register in",
  },
  {
    category: "env or flag",
    name: "malformed BASTION_TAGS and BASTION_SHUTDOWN_TIMEOUT",
    env: epEnv({ BASTION_TAGS: "team=ops,broken,aws:x=1", BASTION_SHUTDOWN_TIMEOUT: "soon" }),
    code: 2,
    message:
      'The entrypoint\'s configuration has 2 problems; no CMD was started: (1) BASTION_SHUTDOWN_TIMEOUT=soon is not a duration such as 8s, 30m or 1h (2) BASTION_TAGS is malformed (k=v,k=v): "broken" is not key=value; tag key "aws:x": the aws: prefix is reserved',
  },
  {
    category: "env or flag",
    name: "a region that is not one",
    env: epEnv({ BASTION_REGION: "mars-1" }),
    code: 2,
    message: "The entrypoint's configuration has a problem; no CMD was started: (1) BASTION_REGION=mars-1 is not a region name such as eu-west-1",
  },
  {
    category: "env or flag",
    name: "BASTION_DISABLED=true without a CMD",
    env: epEnv({ BASTION_DISABLED: "true" }),
    code: 2,
    message: "The entrypoint's configuration has a problem; no CMD was started: (1) BASTION_DISABLED=true needs a CMD to run: there is nothing else to do",
  },
  {
    category: "env or flag",
    name: "BASTION_REQUIRED that is not a boolean, BASTION_PARAMETER_NAME that is not a path",
    env: epEnv({ BASTION_REQUIRED: "maybe", BASTION_PARAMETER_NAME: "stg/app" }),
    code: 2,
    message:
      "The entrypoint's configuration has 2 problems; no CMD was started: (1) BASTION_PARAMETER_NAME=stg/app must be a path such as /stg/portforward/instances/app (letters, digits, _.-/) (2) BASTION_REQUIRED=maybe is not a boolean: use true or false",
  },
  {
    category: "access denied",
    name: "ssm:CreateActivation denied",
    env: EP_ENV,
    faults: denied("ssm:CreateActivation"),
    code: 1,
    message: registrationFailed("create-activation", denial("ssm:CreateActivation", `role ${ROLE}`)),
  },
  {
    category: "access denied",
    name: "ssm:PutParameter denied: the instance and the activation it registered with are removed",
    env: EP_ENV,
    faults: denied("ssm:PutParameter"),
    code: 1,
    message: registrationFailed("put-parameter", denial("ssm:PutParameter", `parameter ${PARAMETER}`)),
  },
  {
    category: "access denied",
    name: "ssm:DeleteActivation denied: the used-up activation is all that is left, and the line says which",
    env: EP_ENV,
    faults: denied("ssm:DeleteActivation"),
    drive: "sigterm-when-registered",
    code: 143,
    message: (_c, out) => denial("ssm:DeleteActivation", `activation ${activationOf(out)}`),
    leaves: { activations: 1 },
  },
  {
    category: "access denied",
    name: "ssm:DeregisterManagedInstance denied at shutdown: the instance is left, and the line says which",
    env: EP_ENV,
    faults: denied("ssm:DeregisterManagedInstance"),
    drive: "sigterm-when-registered",
    code: 143,
    message: (_c, out) => denial("ssm:DeregisterManagedInstance", `managed instance ${instanceOf(out)}`),
    leaves: { instances: 1 },
  },
  {
    category: "access denied",
    name: "ssm:DeleteParameter denied at shutdown: the parameter is left, and the line says which",
    env: EP_ENV,
    faults: denied("ssm:DeleteParameter"),
    drive: "sigterm-when-registered",
    code: 143,
    message: denial("ssm:DeleteParameter", `parameter ${PARAMETER}`),
    leaves: { parameters: 1 },
  },
  {
    category: "expired credentials",
    name: "the task role's credentials have expired",
    env: EP_ENV,
    faults: expired("ssm:CreateActivation"),
    code: 1,
    message: registrationFailed(
      "create-activation",
      `ssm:CreateActivation on role ${ROLE} failed: the AWS credentials have expired. Refresh them and try again.`,
    ),
  },
  {
    category: "throttling",
    name: "CreateActivation throttled until the retries run out (10 attempts, about 20 s)",
    env: EP_ENV,
    faults: throttled("ssm:CreateActivation"),
    code: 1,
    message: registrationFailed(
      "create-activation",
      `ssm:CreateActivation on role ${ROLE} was throttled by AWS: try again in a minute, or lower the request rate.`,
    ),
  },
  {
    category: "agent",
    name: "SSM_AGENT_BIN does not exist: not retried, the activation is deleted",
    env: epEnv({ SSM_AGENT_BIN: "/nonexistent/amazon-ssm-agent" }),
    serial: true,
    code: 1,
    message: registrationFailed(
      "register",
      "Could not run the SSM agent /nonexistent/amazon-ssm-agent: ENOENT. Is amazon-ssm-agent installed in the image, or SSM_AGENT_BIN set?",
    ),
  },
  {
    category: "agent",
    name: "the agent exits 1 without a word (retried 5 times)",
    env: epEnv({ SSM_AGENT_BIN: "/bin/false" }),
    serial: true,
    code: 1,
    message: registrationFailed("register", "/bin/false -register exited 1 without saying why: is SSM_AGENT_BIN (/bin/false) the amazon-ssm-agent binary?"),
  },
  {
    category: "agent",
    name: "the agent's RegisterManagedInstance is refused: not retried",
    env: EP_ENV,
    faults: denied("ssm:RegisterManagedInstance"),
    code: 1,
    message: registrationFailed(
      "register",
      `${FAKE_AGENT} -register exited 1: AccessDeniedException: ${DENIED_BY}: ssm:RegisterManagedInstance. Its RegisterManagedInstance call was refused: check the proxy or VPC endpoint policy between the container and Systems Manager.`,
    ),
  },
  {
    category: "registration file",
    name: "the agent registered but no registration file is where SSM_REGISTRATION_FILE says: the instance is found by its activation and removed",
    env: epEnv({ SSM_AGENT_BIN: join(FIXTURES, "agent-without-registration-file") }),
    serial: true,
    code: 1,
    message: (c) =>
      registrationFailed(
        "register",
        `The agent reported success, but its registration file is absent and its output names none. Is SSM_REGISTRATION_FILE (${join(c.dir, "var/lib/amazon/ssm/registration")}) where this agent writes its registration?`,
      ),
  },
  {
    category: "registration file",
    name: "a truncated registration file: the instance is found by its activation and removed",
    env: epEnv({ SSM_AGENT_BIN: join(FIXTURES, "agent-malformed-registration-file") }),
    serial: true,
    code: 1,
    message: (c) =>
      registrationFailed(
        "register",
        `The agent reported success, but its registration file holds no managed instance id and its output names none. Is SSM_REGISTRATION_FILE (${join(c.dir, "var/lib/amazon/ssm/registration")}) where this agent writes its registration?`,
      ),
  },
  {
    category: "registration file",
    name: "SSM_REGISTRATION_FILE under a regular file: the stale state cannot be cleared",
    env: epEnv({ SSM_REGISTRATION_FILE: "/etc/hostname/registration" }),
    serial: true,
    code: 1,
    message: registrationFailed(
      "clear-agent-state",
      "Could not remove the stale agent state /etc/hostname/registration: ENOTDIR: not a directory, lstat '/etc/hostname/registration'. Is /var/lib/amazon/ssm writable?",
    ),
  },
  {
    category: "registration file",
    name: "SSM_REGISTRATION_FILE naming a directory: refused, nothing removed",
    env: (c) => epEnv({ SSM_REGISTRATION_FILE: c.dir })(c),
    serial: true,
    code: 1,
    message: (c) =>
      registrationFailed(
        "clear-agent-state",
        `Could not clear the stale agent state: SSM_REGISTRATION_FILE ${c.dir} is a directory, not the agent's registration file, so nothing was removed. Point SSM_REGISTRATION_FILE at the agent's registration file (default /var/lib/amazon/ssm/registration).`,
      ),
  },
];

// ── portforward ───────────────────────────────────────────────────────────────────────────────
const PF = ["--env", "stg", "--yes", "--target", "stg-db", "--local-port", "0"];
const pf = (program: string) => (text: string) => `${program}: ${text}`;
const pfLine = pf("portforward");
const NO_REGION = { AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined, AWS_PROFILE: undefined, AWS_CONFIG_FILE: "/nonexistent/aws-config" };

const portforward: Omit<BadInputCase, "program">[] = [
  {
    category: "no TTY",
    name: "no --env and no terminal to ask on",
    args: ["--target", "stg-db"],
    env: { BASTION_ENV: undefined },
    code: 2,
    message: pfLine("Missing --env: pass --env <name> (or set BASTION_ENV)."),
  },
  {
    category: "local port",
    name: "--local-port out of range",
    args: [...PF.slice(0, 5), "--local-port", "70000"],
    code: 2,
    message: pfLine("--local-port 70000 is not a port: use a number from 0 to 65535."),
  },
  {
    category: "local port",
    name: "--forward with a local port out of range",
    args: ["--env", "stg", "--yes", "--forward", "99999:db.internal:5432"],
    code: 2,
    message: pfLine("--forward 99999:db.internal:5432: local port 99999 is not a port: use a number from 0 to 65535."),
  },
  {
    category: "local port",
    name: "the local port is busy",
    args: (c) => [...PF.slice(0, 5), "--local-port", String(c.busyPort)],
    code: 2,
    message: (c) =>
      pfLine(
        `Local port ${c.busyPort} is busy (another program listens on 127.0.0.1:${c.busyPort}): pass --local-port with a free port, or 0 for any free port.`,
      ),
  },
  {
    category: "env or flag",
    name: "a malformed --forward",
    args: ["--env", "stg", "--yes", "--forward", "db.internal:5432"],
    code: 2,
    message: pfLine("--forward db.internal:5432 is not LOCAL:HOST:REMOTE: write it like 16379:cache.internal:6379 (LOCAL 0 = any free port)."),
  },
  {
    category: "env or flag",
    name: "a bad --via and --timeout, both named",
    args: [...PF, "--via", "ssh", "--timeout", "soon"],
    code: 2,
    message: pfLine("--via ssh must be one of auto, ecs-exec, instance; --timeout soon is not a duration (e.g. 90s, 5m)."),
  },
  {
    category: "env or flag",
    name: "--keep with --stop",
    args: [...PF, "--keep", "--stop"],
    code: 2,
    message: pfLine("--keep and --stop contradict each other: pick one."),
  },
  {
    category: "env or flag",
    name: "an unknown flag",
    args: [...PF, "--tagret", "stg-db"],
    code: 2,
    message: pfLine("unknown option --tagret. Run portforward --help for usage."),
  },
  {
    category: "env or flag",
    name: "no region anywhere",
    args: PF,
    env: NO_REGION,
    code: 2,
    message: pfLine("No AWS region is set: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or give the profile a region."),
  },
  {
    category: "env or flag",
    name: "BASTIONLESS_DEBUG that is not a boolean",
    args: PF,
    env: { BASTIONLESS_DEBUG: "maybe" },
    code: 2,
    message: pfLine("BASTIONLESS_DEBUG=maybe is not a boolean for --debug: use true or false."),
  },
  {
    category: "unknown object",
    name: "an env with no cluster",
    args: ["--env", "dev", "--yes", "--target", "stg-db"],
    code: 2,
    message: pfLine(
      "No ECS cluster matches env dev in ap-northeast-1 (clusters: prod-main, stg-main): pass --cluster, or check --env, --profile and --region.",
    ),
  },
  {
    category: "unknown object",
    name: "an unknown --cluster",
    args: [...PF, "--cluster", "stg-nope", "--service", "stg-app"],
    code: 2,
    message: pfLine(
      "Cluster stg-nope was not found: check --cluster (or the config's cluster; leave both out to pick one of the env's clusters), --profile and --region.",
    ),
  },
  {
    category: "unknown object",
    name: "an unknown --service",
    args: [...PF, "--service", "stg-nope"],
    code: 2,
    message: pfLine("Service stg-nope was not found in cluster stg-main: pass --service with one of the cluster's services."),
  },
  {
    category: "unknown object",
    name: "an unknown --target",
    args: ["--env", "stg", "--yes", "--target", "stg-nodb"],
    code: 2,
    message: pfLine(
      "--target stg-nodb: no RDS cluster or instance has that id or endpoint in ap-northeast-1; pass a database id, an endpoint with its port (host:port), or --forward L:HOST:R.",
    ),
  },
  {
    category: "config file",
    name: "bastionless.config.json is not JSON",
    args: PF,
    cwd: join(FIXTURES, "invalid-json"),
    code: 2,
    message: pfLine(
      `${join(FIXTURES, "invalid-json/bastionless.config.json")}: is not valid JSON at line 3 column 37: expected a JSON object like {"envs": {"stg": {"cluster": "stg-main"}}}.`,
    ),
  },
  {
    category: "config file",
    name: "bastionless.config.json with a string port",
    args: PF,
    cwd: join(FIXTURES, "wrong-type"),
    code: 2,
    message: pfLine(`${join(FIXTURES, "wrong-type/bastionless.config.json")}: envs.stg.localPort must be an integer from 0 to 65535 (got "15432").`),
  },
  {
    category: "plugin",
    name: "--client plugin without the plugin installed",
    args: [...PF, "--client", "plugin"],
    env: { PATH: "/usr/bin:/bin" },
    code: 1,
    message: pfLine(`session-manager-plugin is not installed: ${PLUGIN_INSTALL_URL}, or use --client native`),
  },
  {
    category: "plugin",
    name: "--client plugin with a plugin too old",
    args: [...PF, "--client", "plugin"],
    env: { PATH: `${PLUGIN_DIR}:/usr/bin:/bin`, FAKE_PLUGIN_VERSION: "1.2.463.0" },
    code: 1,
    message: pfLine(
      `session-manager-plugin is version 1.2.463.0; bastionless needs ${MIN_PLUGIN_VERSION} or newer. Update it (${PLUGIN_INSTALL_URL}), or use --client native.`,
    ),
  },
  {
    category: "plugin",
    name: "a --client that is not one",
    args: [...PF, "--client", "putty"],
    code: 2,
    message: pfLine("--client putty must be one of auto, native, plugin."),
  },
  {
    category: "access denied",
    name: "ecs:ListClusters denied",
    args: PF,
    faults: denied("ecs:ListClusters"),
    code: 1,
    message: deniedLine("portforward", "ecs:ListClusters"),
  },
  {
    category: "access denied",
    name: "ecs:ListServices denied",
    args: PF,
    faults: denied("ecs:ListServices"),
    code: 1,
    message: deniedLine("portforward", "ecs:ListServices", "cluster stg-main"),
  },
  {
    category: "access denied",
    name: "ecs:DescribeServices denied",
    args: PF,
    faults: denied("ecs:DescribeServices"),
    code: 1,
    message: deniedLine("portforward", "ecs:DescribeServices", "service stg-app in cluster stg-main"),
  },
  {
    category: "access denied",
    name: "rds:DescribeDBClusters denied",
    args: PF,
    faults: denied("rds:DescribeDBClusters"),
    code: 1,
    message: deniedLine("portforward", "rds:DescribeDBClusters"),
  },
  {
    category: "access denied",
    name: "rds:DescribeDBInstances denied",
    args: PF,
    faults: denied("rds:DescribeDBInstances"),
    code: 1,
    message: deniedLine("portforward", "rds:DescribeDBInstances"),
  },
  {
    category: "access denied",
    name: "ecs:RunTask denied",
    args: PF,
    faults: denied("ecs:RunTask"),
    code: 1,
    message: deniedLine("portforward", "ecs:RunTask", "task definition stg-bastion in cluster stg-main"),
  },
  {
    category: "access denied",
    name: "ecs:DescribeTasks denied after the launch: the task is still stopped, and the user is told so",
    args: PF,
    faults: denied("ecs:DescribeTasks"),
    code: 1,
    // Beside the one error line, a plain line says what became of the task it launched.
    message: (_c, out) =>
      /^Bastion task [0-9a-f-]{36} was asked to stop, but the stop could not be confirmed: for the same reason\. See what is left with: make cleanup ENV=stg$/m.test(
        out.stderr,
      )
        ? deniedLine("portforward", "ecs:DescribeTasks", "cluster stg-main")
        : `(no line saying the task was asked to stop in: ${out.stderr})`,
  },
  {
    category: "access denied",
    name: "ssm:StartSession denied on a ready bastion: the task is stopped",
    args: PF,
    faults: denied("ssm:StartSession"),
    code: 1,
    message: (_c, out) => deniedLine("portforward", "ssm:StartSession", /is ready after \S+ \(ecs-exec: (\S+)\)\./.exec(out.stderr)?.[1] ?? "(no target)"),
  },
  {
    category: "expired credentials",
    name: "expired credentials on the first call",
    args: PF,
    faults: expired("ecs:ListClusters"),
    code: 1,
    message: pfLine("ecs:ListClusters failed: the AWS credentials have expired. Refresh them and try again."),
  },
  {
    category: "expired credentials",
    name: "expired credentials of a --profile",
    args: [...PF, "--profile", "dev"],
    env: (c) => ({
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_CONFIG_FILE: join(c.dir, "aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(c.dir, "aws-credentials"),
    }),
    // The profile holds the operator's key.
    files: (c) => ({
      "aws-config": "[profile dev]\nregion = ap-northeast-1\n",
      "aws-credentials": `[dev]\naws_access_key_id = ${c.credentials.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${c.credentials.AWS_SECRET_ACCESS_KEY}\n`,
    }),
    faults: expired("ecs:ListClusters"),
    code: 1,
    message: pfLine("ecs:ListClusters failed: the AWS credentials have expired. Refresh them (aws sso login --profile dev) and try again."),
  },
  {
    category: "throttling",
    name: "DescribeDBClusters throttled on every attempt",
    args: PF,
    faults: throttled("rds:DescribeDBClusters"),
    code: 1,
    message: pfLine("rds:DescribeDBClusters was throttled by AWS after 3 attempts: try again in a minute, or lower the request rate."),
  },
  {
    category: "target refuses",
    name: "--target host:port where nothing listens: a connection says so, Ctrl-C stops the task",
    args: ["--env", "stg", "--yes", "--target", "127.0.0.1:1", "--local-port", "0", "--json"],
    drive: "connect-then-interrupt",
    serial: true,
    code: 0,
    line: "warning",
    // A loopback host is the target's own port (AWS-StartPortForwardingSession): the agent refuses loopback as a remote host.
    message: (_c, out) =>
      `warning: port ${portOf(out)}: Connection to localhost:1 failed on the target (ConnectToPortError): is it listening, and does the target's security group allow it?`,
  },
];

// ── exec ──────────────────────────────────────────────────────────────────────────────────────
const EX = ["--env", "stg", "--yes", "--command", "echo hi", "--client", "native"];
const exLine = pf("exec");
const UNKNOWN_TASK = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f";

const exec: Omit<BadInputCase, "program">[] = [
  {
    category: "no TTY",
    name: "no --command and no terminal: the default shell would wait for ever",
    args: ["--env", "stg", "--yes"],
    code: 2,
    message: exLine(
      "/bin/sh is an interactive shell and stdin is not a terminal, so it would wait for input for ever; nothing was run. Pass --command with what to run (e.g. --command 'ls -la /app'), or run exec from a terminal.",
    ),
  },
  {
    category: "no TTY",
    name: "several clusters and no terminal to ask on",
    args: ["--command", "echo hi"],
    env: { BASTION_ENV: undefined },
    code: 2,
    message: exLine("Several clusters match (stg-main, prod-main): pass --cluster to pick one."),
  },
  // stg-nope: a name the operator policy's cluster patterns reach, so that AWS can say it is not there.
  {
    category: "unknown object",
    name: "an unknown --cluster",
    args: [...EX, "--cluster", "stg-nope"],
    code: 2,
    message: exLine("Cluster stg-nope was not found in ap-northeast-1: check --cluster, --profile and --region."),
  },
  {
    category: "unknown object",
    name: "an unknown --task",
    args: [...EX, "--task", UNKNOWN_TASK],
    code: 2,
    message: exLine(`Task ${UNKNOWN_TASK} was not found in cluster stg-main: check --task and --cluster (tasks stopped over an hour ago are gone).`),
  },
  {
    category: "unknown object",
    name: "an unknown --container",
    args: (c) => [...EX, "--task", c.appTaskId, "--container", "web"],
    code: 2,
    message: (c) => exLine(`Task ${c.appTaskId} has no container web (it has app): check --container.`),
  },
  {
    category: "unknown object",
    name: "an unknown --service",
    args: [...EX, "--service", "stg-nope"],
    code: 2,
    message: exLine("Service stg-nope was not found in cluster stg-main: pass --service with one of the cluster's services (leave it out to choose)."),
  },
  {
    category: "env or flag",
    name: "a --client that is not one",
    args: [...EX.slice(0, 5), "--client", "putty"],
    code: 2,
    message: exLine("--client putty must be one of auto, native, plugin."),
  },
  {
    category: "env or flag",
    name: "--command without its value",
    args: ["--env", "stg", "--yes", "--command"],
    code: 2,
    message: exLine("--command <value> needs a value. Run exec --help for usage."),
  },
  {
    category: "env or flag",
    name: "no region anywhere",
    args: EX,
    env: NO_REGION,
    code: 2,
    message: exLine("No AWS region is set: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or give the profile a region."),
  },
  {
    category: "config file",
    name: "BASTIONLESS_CONFIG is not JSON",
    args: EX,
    env: { BASTIONLESS_CONFIG: join(FIXTURES, "invalid-json/bastionless.config.json") },
    code: 2,
    message: exLine(
      `${join(FIXTURES, "invalid-json/bastionless.config.json")}: is not valid JSON at line 3 column 37: expected a JSON object like {"envs": {"stg": {"cluster": "stg-main"}}}.`,
    ),
  },
  {
    category: "config file",
    name: "BASTIONLESS_CONFIG names a file that does not exist",
    args: EX,
    env: { BASTIONLESS_CONFIG: "/nonexistent/bastionless.config.json" },
    code: 2,
    message: exLine("/nonexistent/bastionless.config.json: cannot be read (ENOENT). Fix the path in BASTIONLESS_CONFIG or remove it."),
  },
  {
    category: "config file",
    name: "a command the config's allow-list refuses",
    args: ["--env", "stg", "--yes", "--command", "rails console; id"],
    env: { BASTIONLESS_CONFIG: join(FIXTURES, "exec-allow.json") },
    code: 2,
    message: exLine(
      `The command "rails console; id" is not allowed in env stg; nothing was run. Allowed commands (envs.stg.exec.allow in ${join(FIXTURES, "exec-allow.json")}): "/bin/sh", "rails console". Pass one of them exactly with --command, or ask for it to be added to the list.`,
    ),
  },
  {
    category: "config file",
    name: "an allowed command with a line break in it (/bin/sh -c would run two lines)",
    args: ["--env", "stg", "--yes", "--command", "rails\nconsole"],
    env: { BASTIONLESS_CONFIG: join(FIXTURES, "exec-allow.json") },
    code: 2,
    message: exLine(
      `The command "rails\\nconsole" is not allowed in env stg: it contains a control character (U+000A), which no list entry matches; nothing was run. Allowed commands (envs.stg.exec.allow in ${join(FIXTURES, "exec-allow.json")}): "/bin/sh", "rails console". Pass one of them exactly with --command, or ask for it to be added to the list.`,
    ),
  },
  {
    category: "config file",
    name: "no --env while the config's allow-lists restrict exec",
    args: ["--yes", "--cluster", "stg-main", "--command", "id"],
    env: { BASTIONLESS_CONFIG: join(FIXTURES, "exec-allow.json"), BASTION_ENV: undefined },
    code: 2,
    message: exLine(
      `Missing --env: ${join(FIXTURES, "exec-allow.json")} restricts exec commands per env (exec.allow in stg). Pass --env with one of stg (or set BASTION_ENV); nothing was run.`,
    ),
  },
  {
    category: "config file",
    name: "an --env the config with allow-lists does not know",
    args: ["--env", "STG", "--yes", "--cluster", "stg-main", "--command", "id"],
    env: { BASTIONLESS_CONFIG: join(FIXTURES, "exec-allow.json") },
    code: 2,
    message: exLine(
      `--env STG is not an env of ${join(FIXTURES, "exec-allow.json")}, which restricts exec commands per env (exec.allow in stg): pass --env with one of stg; nothing was run.`,
    ),
  },
  {
    category: "config file",
    name: "another env's cluster under an env's allow-list",
    args: ["--env", "stg", "--yes", "--cluster", "prod-main", "--command", "rails console"],
    env: { BASTIONLESS_CONFIG: join(FIXTURES, "exec-allow.json") },
    code: 2,
    message: exLine(
      `Cluster prod-main is not env stg's, so env stg's exec rules (${join(FIXTURES, "exec-allow.json")}) cannot apply to it; nothing was run. Pass a cluster or task of env stg, or the --env whose cluster it is.`,
    ),
  },
  {
    category: "plugin",
    name: "--client plugin without the plugin installed",
    args: [...EX.slice(0, 5), "--client", "plugin"],
    env: { PATH: "/usr/bin:/bin" },
    code: 1,
    message: exLine(`session-manager-plugin is not installed: ${PLUGIN_INSTALL_URL}, or use --client native`),
  },
  {
    category: "plugin",
    name: "--client plugin with a plugin too old",
    args: [...EX.slice(0, 5), "--client", "plugin"],
    env: { PATH: `${PLUGIN_DIR}:/usr/bin:/bin`, FAKE_PLUGIN_VERSION: "1.2.463.0" },
    code: 1,
    message: exLine(
      `session-manager-plugin is version 1.2.463.0; bastionless needs ${MIN_PLUGIN_VERSION} or newer. Update it (${PLUGIN_INSTALL_URL}), or use --client native.`,
    ),
  },
  {
    category: "access denied",
    name: "ecs:ListClusters denied",
    args: EX,
    faults: denied("ecs:ListClusters"),
    code: 1,
    message: deniedLine("exec", "ecs:ListClusters"),
  },
  {
    category: "access denied",
    name: "ecs:DescribeClusters denied",
    args: EX,
    faults: denied("ecs:DescribeClusters"),
    code: 1,
    message: deniedLine("exec", "ecs:DescribeClusters", "cluster stg-main"),
  },
  {
    category: "access denied",
    name: "a --cluster outside the operator policy's clusters: IAM refuses DescribeClusters before AWS looks for it",
    args: [...EX, "--cluster", "nope"],
    code: 1,
    refused: ["ecs:DescribeClusters on arn:aws:ecs:ap-northeast-1:123456789012:cluster/nope"],
    message: exLine(
      'ecs:DescribeClusters on cluster nope was denied: allow "ecs:DescribeClusters" for the caller\'s IAM identity (see docker/iam/). AWS said: User: arn:aws:iam::123456789012:user/bastionless-operator is not authorized to perform: ecs:DescribeClusters on resource: arn:aws:ecs:ap-northeast-1:123456789012:cluster/nope because no identity-based policy allows the ecs:DescribeClusters action',
    ),
  },
  {
    category: "access denied",
    name: "ecs:ListServices denied",
    args: EX,
    faults: denied("ecs:ListServices"),
    code: 1,
    message: deniedLine("exec", "ecs:ListServices", "cluster stg-main"),
  },
  {
    category: "access denied",
    name: "ecs:ListTasks denied",
    args: EX,
    faults: denied("ecs:ListTasks"),
    code: 1,
    message: deniedLine("exec", "ecs:ListTasks", "service stg-app in cluster stg-main"),
  },
  {
    category: "access denied",
    name: "ecs:DescribeTasks denied",
    args: EX,
    faults: denied("ecs:DescribeTasks"),
    code: 1,
    message: deniedLine("exec", "ecs:DescribeTasks", "cluster stg-main"),
  },
  {
    category: "access denied",
    name: "ecs:ExecuteCommand denied: the line, then the pre-flight report",
    args: EX,
    faults: denied("ecs:ExecuteCommand"),
    code: 1,
    message: (c) => deniedLine("exec", "ecs:ExecuteCommand", `task arn:aws:ecs:ap-northeast-1:123456789012:task/stg-main/${c.appTaskId} in cluster stg-main`),
  },
  {
    category: "access denied",
    name: "ecs:DescribeTaskDefinition denied: only the transcript's log group is unknown; the command runs",
    args: EX,
    faults: denied("ecs:DescribeTaskDefinition"),
    code: 0,
    message: null,
  },
  {
    category: "access denied",
    name: "sts:GetCallerIdentity denied: only the audit's identity is unknown; the command runs",
    args: EX,
    faults: denied("sts:GetCallerIdentity"),
    code: 0,
    message: null,
  },
  {
    category: "expired credentials",
    name: "expired credentials",
    args: EX,
    faults: expired("ecs:ListClusters"),
    code: 1,
    message: exLine("ecs:ListClusters failed: the AWS credentials have expired. Refresh them and try again."),
  },
  {
    category: "throttling",
    name: "DescribeClusters throttled on every attempt",
    args: EX,
    faults: throttled("ecs:DescribeClusters"),
    code: 1,
    message: exLine("ecs:DescribeClusters on cluster stg-main was throttled by AWS after 3 attempts: try again in a minute, or lower the request rate."),
  },
];

// ── cleanup-orphans ───────────────────────────────────────────────────────────────────────────
const CL = ["--env", "stg", "--yes"];
const clLine = pf("cleanup-orphans");

const cleanup: Omit<BadInputCase, "program">[] = [
  {
    category: "env or flag",
    name: "a bad --stale-after and --concurrency, both named",
    args: [...CL, "--stale-after", "a while", "--concurrency", "0"],
    code: 2,
    message: clLine("--stale-after a while is not a duration (e.g. 30m); --concurrency 0 must be an integer from 1 to 64."),
  },
  {
    category: "env or flag",
    name: "--dry-run with --yes",
    args: [...CL, "--dry-run"],
    code: 2,
    message: clLine("--dry-run and --yes contradict each other: pick one."),
  },
  {
    category: "env or flag",
    name: "an unknown flag",
    args: [...CL, "--force"],
    code: 2,
    message: clLine("unknown option --force. Run cleanup-orphans --help for usage."),
  },
  {
    category: "env or flag",
    name: "no region anywhere",
    args: CL,
    env: NO_REGION,
    code: 2,
    message: clLine("No AWS region is set: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or give the profile a region."),
  },
  {
    category: "config file",
    name: "bastionless.config.json is not JSON",
    args: CL,
    cwd: join(FIXTURES, "invalid-json"),
    code: 2,
    message: clLine(
      `${join(FIXTURES, "invalid-json/bastionless.config.json")}: is not valid JSON at line 3 column 37: expected a JSON object like {"envs": {"stg": {"cluster": "stg-main"}}}.`,
    ),
  },
  {
    category: "access denied",
    name: "ssm:DescribeInstanceInformation denied",
    args: CL,
    faults: denied("ssm:DescribeInstanceInformation"),
    code: 1,
    message: deniedLine("cleanup-orphans", "ssm:DescribeInstanceInformation"),
  },
  {
    category: "access denied",
    name: "ssm:DescribeActivations denied",
    args: CL,
    faults: denied("ssm:DescribeActivations"),
    code: 1,
    message: deniedLine("cleanup-orphans", "ssm:DescribeActivations"),
  },
  {
    category: "access denied",
    name: "ssm:GetParametersByPath denied",
    args: CL,
    faults: denied("ssm:GetParametersByPath"),
    code: 1,
    message: deniedLine("cleanup-orphans", "ssm:GetParametersByPath", "path /stg/portforward/instances/"),
  },
  {
    category: "access denied",
    name: "ecs:ListClusters denied",
    args: CL,
    faults: denied("ecs:ListClusters"),
    code: 1,
    message: deniedLine("cleanup-orphans", "ecs:ListClusters"),
  },
  {
    category: "access denied",
    name: "ecs:ListTasks denied",
    args: CL,
    faults: denied("ecs:ListTasks"),
    code: 1,
    message: deniedLine("cleanup-orphans", "ecs:ListTasks", "cluster stg-main"),
  },
  {
    category: "expired credentials",
    name: "expired credentials",
    args: CL,
    faults: expired("ssm:DescribeInstanceInformation"),
    code: 1,
    message: clLine("ssm:DescribeInstanceInformation failed: the AWS credentials have expired. Refresh them and try again."),
  },
  {
    category: "throttling",
    name: "DescribeActivations throttled on every attempt (AWS_MAX_ATTEMPTS=2 keeps the cron job's 10 short)",
    args: CL,
    env: { AWS_MAX_ATTEMPTS: "2" },
    faults: throttled("ssm:DescribeActivations"),
    code: 1,
    message: clLine("ssm:DescribeActivations was throttled by AWS after 2 attempts: try again in a minute, or lower the request rate."),
  },
];

// cleanup-orphans' apply step: an orphan of each kind, then the one call that removes it denied.
const ORPHAN_TAGS = () => Object.entries(ourTags("stg", "host:gone-laptop", new Date(Date.now() - 86_400_000)));
const ORPHAN_PARAMETER = "/stg/portforward/instances/gone-laptop";
const GONE_INSTANCE = "mi-0123456789abcdef0";

/** The sweeper judges ages on AWS's clock, learnt from a Date header to the second: be past a 0s threshold on it. */
function pastClockSkew(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1_100));
}

async function orphanActivation(kit: SeedKit): Promise<{ activationId: string; activationCode: string }> {
  const out = await kit.ssm.send(
    new CreateActivationCommand({
      IamRole: ROLE,
      RegistrationLimit: 1,
      ExpirationDate: new Date(Date.now() + 3_600_000),
      Tags: ORPHAN_TAGS().map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  return { activationId: out.ActivationId!, activationCode: out.ActivationCode! };
}

async function orphanInstance(kit: SeedKit): Promise<{ instanceId: string }> {
  const activation = await orphanActivation(kit);
  // Not spawnSync: the local cloud answering the agent runs in this process.
  const { stdout } = await promisify(execFile)(
    FAKE_AGENT,
    ["-register", "-code", activation.activationCode, "-id", activation.activationId, "-region", kit.cloud.region, "-y"],
    {
      env: { ...process.env, ...kit.cloud.env, SSM_REGISTRATION_FILE: join(kit.dir, "orphan-registration") },
    },
  );
  const instanceId = /Managed instance-id: (mi-[0-9a-f]{17})/.exec(stdout)?.[1];
  if (!instanceId) throw new Error(`the agent did not register: ${stdout}`);
  // No agent heartbeats: a minute of simulated time later the instance is ConnectionLost.
  await kit.cloud.advanceClock(60_000);
  return { instanceId };
}

async function orphanTask(kit: SeedKit): Promise<{ taskId: string }> {
  const service = await kit.ecs.send(new DescribeServicesCommand({ cluster: "stg-main", services: ["stg-app"] }));
  const out = await kit.ecs.send(
    new RunTaskCommand({
      cluster: "stg-main",
      taskDefinition: "stg-app",
      launchType: "FARGATE",
      networkConfiguration: service.services![0].networkConfiguration,
      startedBy: startedBy("gone-laptop"),
      tags: ORPHAN_TAGS().map(([key, value]) => ({ key, value })),
    }),
  );
  const taskId = out.tasks![0].taskArn!.split("/").at(-1)!;
  await eventually(
    async () => ((await kit.cloud.state()).tasks.find((t) => t.taskId === taskId)?.lastStatus === "RUNNING" ? true : undefined),
    20_000,
    `orphan task ${taskId} RUNNING`,
  );
  await pastClockSkew();
  return { taskId };
}

async function orphanParameter(kit: SeedKit): Promise<{ parameter: string }> {
  await kit.ssm.send(
    new PutParameterCommand({ Name: ORPHAN_PARAMETER, Value: GONE_INSTANCE, Type: "String", Tags: ORPHAN_TAGS().map(([Key, Value]) => ({ Key, Value })) }),
  );
  return { parameter: ORPHAN_PARAMETER };
}

const cleanupApply: Omit<BadInputCase, "program">[] = [
  {
    category: "no TTY",
    name: "without --yes and without a terminal to confirm on: a dry run that says how to apply",
    args: ["--env", "stg"],
    seed: orphanParameter,
    serial: true,
    code: 0,
    line: "dry run",
    message: "Dry run: nothing changed. Run with --yes to apply 1 action(s).",
    leaves: { parameters: 1 },
  },
  {
    category: "access denied",
    name: "ecs:StopTask denied on an orphaned bastion task: that item fails, named, the task is left running",
    args: [...CL, "--task-ttl", "0s"],
    seed: orphanTask,
    faults: denied("ecs:StopTask"),
    code: 1,
    line: "failed",
    message: (c) => `  failed: stop task stg-main/${c.seeded.taskId} — ${denial("ecs:StopTask", `task ${c.seeded.taskId} in cluster stg-main`)}`,
    leaves: { tasks: 1 },
  },
  {
    category: "access denied",
    name: "ssm:DeregisterManagedInstance denied on a disconnected instance: that item fails, named; its used-up activation still goes",
    args: [...CL, "--stale-after", "0s"],
    seed: orphanInstance,
    faults: denied("ssm:DeregisterManagedInstance"),
    code: 1,
    line: "failed",
    message: (c) =>
      `  failed: deregister instance ${c.seeded.instanceId} — ${denial("ssm:DeregisterManagedInstance", `managed instance ${c.seeded.instanceId}`)}`,
    leaves: { instances: 1 },
  },
  {
    category: "access denied",
    name: "ssm:DeleteParameter denied on a parameter whose instance is gone: that item fails, named",
    args: CL,
    seed: orphanParameter,
    faults: denied("ssm:DeleteParameter"),
    code: 1,
    line: "failed",
    message: `  failed: delete parameter ${ORPHAN_PARAMETER} — ${denial("ssm:DeleteParameter", `parameter ${ORPHAN_PARAMETER}`)}`,
    leaves: { parameters: 1 },
  },
  {
    category: "access denied",
    name: "ssm:DeleteActivation denied on an unused activation: that item fails, named",
    args: [...CL, "--stale-after", "0s"],
    seed: async (kit) => {
      const { activationId } = await orphanActivation(kit);
      await pastClockSkew();
      return { activationId };
    },
    faults: denied("ssm:DeleteActivation"),
    code: 1,
    line: "failed",
    message: (c) => `  failed: delete activation ${c.seeded.activationId} — ${denial("ssm:DeleteActivation", `activation ${c.seeded.activationId}`)}`,
    leaves: { activations: 1 },
  },
];

function activationOf(out: RunOutput): string {
  return String(out.events.find((e) => e.event === "activation_created")?.activationId ?? "(no activation)");
}

function instanceOf(out: RunOutput): string {
  return String(out.events.find((e) => e.event === "registered")?.instanceId ?? "(no instance)");
}

function portOf(out: RunOutput): number {
  const line = out.stdout.split("\n").find((l) => l.startsWith("{"));
  return line ? (JSON.parse(line) as { forwards: Array<{ localPort: number }> }).forwards[0].localPort : 0;
}

export const BAD_INPUT_CASES: BadInputCase[] = [
  ...entrypoint.map((c) => ({ ...c, program: "entrypoint" as const })),
  ...portforward.map((c) => ({ ...c, program: "portforward" as const })),
  ...exec.map((c) => ({ ...c, program: "exec" as const })),
  ...[...cleanup, ...cleanupApply].map((c) => ({ ...c, program: "cleanup-orphans" as const })),
];

/** Cases per program and category, for the soak report. */
export function countCases(cases: BadInputCase[] = BAD_INPUT_CASES): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of cases) counts[`${c.program}/${c.category}`] = (counts[`${c.program}/${c.category}`] ?? 0) + 1;
  return counts;
}

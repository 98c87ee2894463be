// The SSM agent's side of registration: clear stale state, run `amazon-ssm-agent -register`, read
// the managed instance id it got (docs/session-protocol.md §7), and keep the agent itself running.
import { lstat, readFile, rm, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { MANAGED_INSTANCE_ID } from "../constants.ts";
import { runCommand, startRestarting, type Backoff, type ChildExit, type RestartingChild } from "../process.ts";

/**
 * Removes what a previous agent in this container left: the ipc sockets (the "ipc … address in
 * use" failure, aws/amazon-ssm-agent#361) and the old registration file, whose id is not ours.
 * Only a regular file is removed as the registration file, and the ipc directory only when it is the
 * agent's own: a real directory beside a registration file in the agent's data dir (…/amazon/ssm).
 * A directory named by mistake in SSM_REGISTRATION_FILE is refused before anything is removed.
 */
export async function clearAgentState(registrationFile: string): Promise<string[]> {
  const registration = await kindOf(registrationFile);
  if (registration && registration !== "file") {
    throw new Error(
      `Could not clear the stale agent state: SSM_REGISTRATION_FILE ${registrationFile} is a ${registration}, not the agent's registration file, so nothing was removed. Point SSM_REGISTRATION_FILE at the agent's registration file (default /var/lib/amazon/ssm/registration).`,
    );
  }
  const dataDir = dirname(registrationFile);
  const ipc = join(dataDir, "ipc");
  const ipcKind = AGENT_DATA_DIR.test(dataDir) ? await kindOf(ipc) : undefined;
  if (ipcKind && ipcKind !== "directory") {
    throw new Error(
      `Could not clear the stale agent state: ${ipc} is a ${ipcKind}, not the agent's ipc directory, so nothing was removed. Remove it, or point SSM_REGISTRATION_FILE at the agent's registration file.`,
    );
  }
  const removed: string[] = [];
  if (ipcKind) {
    await rm(ipc, { recursive: true }).catch((error: NodeJS.ErrnoException) => failedToRemove(ipc, error));
    removed.push(ipc);
  }
  if (registration) {
    await unlink(registrationFile).catch((error: NodeJS.ErrnoException) => failedToRemove(registrationFile, error));
    removed.push(registrationFile);
  }
  return removed;
}

/** The agent's data directory, /var/lib/amazon/ssm (or the same under a container's root dir). */
const AGENT_DATA_DIR = /(^|\/)amazon\/ssm$/;

/** What is at `path` (never following a symlink), or undefined when nothing is. */
async function kindOf(path: string): Promise<"file" | "directory" | "symbolic link" | "special file" | undefined> {
  const stat = await lstat(path).catch((error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? undefined : failedToRemove(path, error)));
  if (!stat) return undefined;
  if (stat.isFile()) return "file";
  if (stat.isDirectory()) return "directory";
  if (stat.isSymbolicLink()) return "symbolic link";
  return "special file";
}

function failedToRemove(path: string, error: NodeJS.ErrnoException): never {
  throw new Error(`Could not remove the stale agent state ${path}: ${error.message}. Is /var/lib/amazon/ssm writable?`, { cause: error });
}

export interface RegisterOptions {
  agentBin: string;
  activationId: string;
  activationCode: string;
  region: string;
  registrationFile: string;
  env?: NodeJS.ProcessEnv;
  abortSignal?: AbortSignal;
  onLine?: (stream: "stdout" | "stderr", line: string) => void;
}

export class RegisterFailed extends Error {
  override name = "RegisterFailed";
  /** Retrying cannot help: the binary is missing or AWS refused the registration itself. */
  readonly final: boolean;
  constructor(
    message: string,
    readonly exit?: ChildExit,
    options: { final?: boolean } = {},
  ) {
    super(message);
    this.final = options.final ?? false;
  }
}

/** Runs `<agent> -register -code … -id … -region … -y` and returns the managed instance id it registered. */
export async function registerAgent(options: RegisterOptions): Promise<string> {
  const argv = [options.agentBin, "-register", "-code", options.activationCode, "-id", options.activationId, "-region", options.region, "-y"];
  const result = await runCommand(argv, { env: options.env, abortSignal: options.abortSignal, onLine: options.onLine });
  if (result.error) {
    throw new RegisterFailed(
      `Could not run the SSM agent ${options.agentBin}: ${(result.error as NodeJS.ErrnoException).code ?? result.error.message}. Is amazon-ssm-agent installed in the image, or SSM_AGENT_BIN set?`,
      result,
    );
  }
  if (result.code !== 0) {
    const reason = /Registration failed due to (.*)$/m.exec(result.stdout + "\n" + result.stderr)?.[1] ?? lastLine(result.stderr || result.stdout);
    const exited = `${options.agentBin} -register exited ${result.code ?? result.signal}`;
    if (!reason) throw new RegisterFailed(`${exited} without saying why: is SSM_AGENT_BIN (${options.agentBin}) the amazon-ssm-agent binary?`, result);
    if (isRefusal(reason)) {
      throw new RegisterFailed(
        `${exited}: ${reason}. Its RegisterManagedInstance call was refused: check the proxy or VPC endpoint policy between the container and Systems Manager.`,
        result,
        { final: true },
      );
    }
    throw new RegisterFailed(`${exited}: ${reason}`, result);
  }
  const fileText = await readFile(options.registrationFile, "utf8").catch(() => undefined);
  return parseInstanceId(fileText, result.stdout, options.registrationFile);
}

/** The agent's own "AccessDeniedException: …" or "ExpiredTokenException: …": another run gets the same answer. */
function isRefusal(reason: string): boolean {
  return /^(AccessDenied|AccessDeniedException|UnauthorizedOperation|ExpiredToken|ExpiredTokenException)\b/.test(reason);
}

/**
 * The managed instance id from the registration file `{"ManagedInstanceID":"mi-…",…}`, else from
 * the agent's "Managed instance-id: mi-…" line; validated as `mi-` + 17 hex characters.
 */
export function parseInstanceId(registrationFile: string | undefined, stdout: string, path?: string): string {
  let fromFile: unknown;
  try {
    fromFile = registrationFile ? (JSON.parse(registrationFile) as { ManagedInstanceID?: unknown }).ManagedInstanceID : undefined;
  } catch {
    fromFile = undefined;
  }
  const fromStdout = /Managed instance-id: (\S+)/.exec(stdout)?.[1];
  const candidate = typeof fromFile === "string" && MANAGED_INSTANCE_ID.test(fromFile) ? fromFile : fromStdout;
  const where = path ? ` Is SSM_REGISTRATION_FILE (${path}) where this agent writes its registration?` : "";
  if (candidate === undefined) {
    const file = registrationFile === undefined ? "its registration file is absent" : "its registration file holds no managed instance id";
    throw new RegisterFailed(`The agent reported success, but ${file} and its output names none.${where}`);
  }
  if (!MANAGED_INSTANCE_ID.test(candidate)) {
    throw new RegisterFailed(
      `The agent reported the managed instance id ${JSON.stringify(candidate.slice(0, 40))}, which is not mi- followed by 17 hex characters.${where}`,
    );
  }
  return candidate;
}

export interface StartAgentOptions {
  agentBin: string;
  env?: NodeJS.ProcessEnv;
  backoff: Backoff;
  onLine: (stream: "stdout" | "stderr", line: string) => void;
  onStart?: (pid: number | undefined, run: number) => void;
  onExit?: (exit: ChildExit, restartInMs: number, runMs: number) => void;
}

/** The agent as a supervised child, restarted with backoff when it dies. */
export function startAgent(options: StartAgentOptions): RestartingChild {
  return startRestarting([options.agentBin], {
    env: options.env,
    backoff: options.backoff,
    onLine: options.onLine,
    onStart: options.onStart,
    onExit: options.onExit,
  });
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.trim() ?? "";
}

// podman as this repository runs it: as root, its storage in CACHE_DIR (so the base image and the
// build layers survive between runs), with docker/podman/containers.conf's workarounds. Shared by
// the image builds (docker/images.ts) and the local cloud's real containers.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";

export const CACHE_DIR = process.env.BASTIONLESS_IMAGE_CACHE ?? "/var/tmp/bastionless-images";
/** Two workarounds for these machines, explained in the file itself. */
export const CONTAINERS_CONF = join(import.meta.dirname, "podman/containers.conf");

/** podman's global flags: our storage, and a run root of our own. */
export const PODMAN_GLOBAL_ARGS = ["--root", join(CACHE_DIR, "storage"), "--runroot", "/run/bastionless-images"];

/** The environment podman itself runs with. */
export function podmanEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, CONTAINERS_CONF };
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `podman <global flags> …`; never throws, the caller judges the code. */
export function podman(args: string[], options: { input?: string | Buffer } = {}): Promise<CommandResult> {
  return run("podman", [...PODMAN_GLOBAL_ARGS, ...args], { env: podmanEnv(), input: options.input });
}

export function run(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; cwd?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.once("error", (error) => resolve({ code: null, stdout, stderr: stderr + error.message }));
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input);
  });
}

export async function imageExists(image: string): Promise<boolean> {
  return (await podman(["image", "exists", image])).code === 0;
}

/** The same, blocking: for the local cloud's RunTask, which answers with the task at once. */
export function imageExistsSync(image: string): boolean {
  return spawnSync("podman", [...PODMAN_GLOBAL_ARGS, "image", "exists", image], { env: podmanEnv(), stdio: "ignore" }).status === 0;
}

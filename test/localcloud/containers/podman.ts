// Real containers: a task definition naming an image built with podman here (`localhost/…`, see
// docker/images.ts) runs that image as a container instead of a local process, the way ECS runs it:
// the container definition's env, entryPoint/command and user; the host's network (so the gateway,
// the metadata endpoint and the demo's services are reached on 127.0.0.1, as awsvpc reaches a VPC's
// endpoints); StopTask is `podman stop -t <stopTimeout>` (SIGTERM, then SIGKILL), like the ECS agent's
// `docker stop`. The `podman run` process stands for the container: its exit is the container's.
import { spawn } from "node:child_process";
import { PODMAN_GLOBAL_ARGS, imageExistsSync, podmanEnv } from "../../../docker/podman.ts";
import type { ContainerRecord } from "../state.ts";

/** `localhost/<name>[:tag]`: what podman build -t gives and no registry serves. */
export function isLocalImage(image: string): boolean {
  return /^localhost\/[a-z0-9._/-]+(:[\w.-]+)?$/.test(image);
}

export function localImageExists(image: string): boolean {
  return imageExistsSync(image);
}

/** The host process's sandbox, which means nothing inside an image: the image's own apply there. */
const HOST_ONLY = new Set(["PATH", "HOME", "LOCALCLOUD_CONTAINER_DIR", "SSM_REGISTRATION_FILE", "TMPDIR"]);

export interface RealContainerSpec {
  image: string;
  taskId: string;
  entryPoint?: string[];
  command?: string[];
  user?: string;
}

export function containerName(taskId: string, container: string): string {
  return `localcloud-${taskId}-${container}`.replace(/[^a-zA-Z0-9_.-]/g, "-");
}

/**
 * `podman run …` for the container. Env values never reach argv: `-e NAME` takes each from podman's
 * own environment (podmanProcessEnv), so nothing the task carries shows in `ps`.
 */
export function podmanRunArgv(c: Pick<ContainerRecord, "name" | "env" | "stopTimeoutMs">, spec: RealContainerSpec): string[] {
  const names = Object.keys(c.env).filter((n) => !HOST_ONLY.has(n));
  return [
    "podman",
    ...PODMAN_GLOBAL_ARGS,
    "run",
    "--rm",
    "--pull=never",
    "--network=host",
    "--name",
    containerName(spec.taskId, c.name),
    ...(c.env.HOSTNAME ? ["--hostname", c.env.HOSTNAME] : []),
    "--stop-timeout",
    String(Math.max(1, Math.ceil(c.stopTimeoutMs / 1000))),
    ...(spec.user ? ["--user", spec.user] : []),
    ...(spec.entryPoint?.length ? ["--entrypoint", JSON.stringify(spec.entryPoint)] : []),
    ...names.flatMap((n) => ["-e", n]),
    spec.image,
    // entryPoint without command drops the image's CMD (Docker's rule, as for local processes).
    ...(spec.command?.length ? spec.command : []),
  ];
}

/** What `podman run` itself runs with: the host's PATH (podman finds runc and conmon), our conf, the task's env. */
export function podmanProcessEnv(c: Pick<ContainerRecord, "env">): Record<string, string> {
  const inside = Object.fromEntries(Object.entries(c.env).filter(([n]) => !HOST_ONLY.has(n)));
  return { ...(podmanEnv({ PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }) as Record<string, string>), ...inside };
}

/**
 * ECS Exec into a real container: the shell runs inside it with `podman exec`, as the container's
 * user (the image's USER or the task definition's `user`), as ECS's agent runs it.
 */
export function realContainerShell(c: ContainerRecord): { env: Record<string, string>; inside: string[] } {
  return {
    env: podmanEnv({ PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }) as Record<string, string>,
    inside: ["podman", ...PODMAN_GLOBAL_ARGS, "exec", "--interactive", "--tty", c.real!.containerName],
  };
}

/**
 * A Session Manager shell on the agent inside a real container: as ssm-user, the user AWS's agent
 * starts Linux sessions as (RunAs off), in the agent's working directory.
 */
export function realAgentShell(c: ContainerRecord, agentCwd: string | undefined): { env: Record<string, string>; inside: string[] } {
  const { env, inside } = realContainerShell(c);
  return { env, inside: [...inside.slice(0, -1), "--user", "ssm-user", ...(agentCwd ? ["--workdir", agentCwd] : []), c.real!.containerName] };
}

/** `docker stop`: SIGTERM to the container's PID 1, SIGKILL after the timeout; the run process then exits. */
export function stopRealContainer(c: ContainerRecord): void {
  if (!c.real) return;
  const child = spawn("podman", [...PODMAN_GLOBAL_ARGS, "stop", "--time", String(Math.max(0, Math.ceil(c.stopTimeoutMs / 1000))), c.real.containerName], {
    env: podmanEnv(),
    stdio: "ignore",
  });
  child.on("error", () => {});
}

/** `podman rm --force` of the container, for the watchdog when the cloud's owner is SIGKILLed. */
export function removeRealContainerCommand(c: ContainerRecord): { argv: string[]; env: Record<string, string> } {
  return { argv: ["podman", ...PODMAN_GLOBAL_ARGS, "rm", "--force", "--time", "0", c.real!.containerName], env: podmanEnv({}) as Record<string, string> };
}

/** Cloud shutdown: the container goes at once, whatever it was doing. */
export function removeRealContainer(c: ContainerRecord): Promise<void> {
  if (!c.real) return Promise.resolve();
  return new Promise((resolve) => {
    const child = spawn("podman", [...PODMAN_GLOBAL_ARGS, "rm", "--force", "--time", "0", c.real!.containerName], { env: podmanEnv(), stdio: "ignore" });
    child.once("error", () => resolve());
    child.once("close", () => resolve());
  });
}

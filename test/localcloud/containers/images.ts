// The local image registry: what a container of image `localcloud/<name>` runs, the way Docker
// combines the image's ENTRYPOINT/CMD with the task definition's entryPoint/command.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isLocalImage, localImageExists } from "./podman.ts";

export interface ImageSpec {
  entrypoint: string[];
  cmd: string[];
}

/** A long-running stand-in workload that exits 0 on SIGTERM (bin/localcloud-app). */
export function standIn(repoRoot: string): string[] {
  return [process.execPath, join(repoRoot, "test/localcloud/bin/localcloud-app")];
}

/**
 * undefined = not a local image (no process; the task still goes through its lifecycle);
 * "real" = an image built with podman here (localhost/…), run as a container (./podman.ts).
 */
export function findImage(image: string, repoRoot: string): ImageSpec | "real" | "unknown" | undefined {
  if (isLocalImage(image)) return localImageExists(image) ? "real" : "unknown";
  const m = /^localcloud\/([a-z0-9._-]+)(:[\w.-]+)?$/.exec(image);
  if (!m) return undefined;
  switch (m[1]) {
    case "bastion": {
      // The bastion image's ENTRYPOINT is our entrypoint script.
      const entrypoint = join(repoRoot, "scripts/entrypoint.mts");
      if (existsSync(entrypoint)) return { entrypoint: [join(repoRoot, "node_modules/.bin/tsx"), entrypoint], cmd: [] };
      return { entrypoint: [], cmd: standIn(repoRoot) };
    }
    case "app":
      return { entrypoint: [], cmd: standIn(repoRoot) };
    default:
      return "unknown";
  }
}

/** Docker's rule: entryPoint replaces ENTRYPOINT (and drops CMD), command replaces CMD. */
export function containerArgv(image: ImageSpec, entryPoint: string[] | undefined, command: string[] | undefined): string[] {
  const ep = entryPoint?.length ? entryPoint : image.entrypoint;
  // A task's command replaces the image's CMD; a task's entryPoint drops it (as Docker does).
  let cmd = image.cmd;
  if (command?.length) cmd = command;
  else if (entryPoint?.length) cmd = [];
  return [...ep, ...cmd];
}

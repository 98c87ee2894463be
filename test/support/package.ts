// The package as a team gets it: `npm pack` of a clean copy of the repository (its tracked files, with
// our node_modules linked in for the build), installed into an empty prefix with
// `npm install -g --prefix <dir> --offline` — so the package needs nothing from any registry.
// The copy keeps the pack's build out of the repository's dist/, which other tests read meanwhile.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { REPO } from "./run.ts";

export interface PackResult {
  filename: string;
  /** The tarball's size and the files' total, in bytes. */
  size: number;
  unpackedSize: number;
  files: Array<{ path: string; size: number; mode: number }>;
}

export interface InstalledPackage {
  dir: string;
  tarball: string;
  packed: PackResult;
  /** The install prefix: bin/bastionless, lib/node_modules/bastionless. */
  prefix: string;
  bin: string;
  /** PATH with the prefix's bin first. */
  path: string;
  remove(): void;
}

/** npm, quiet and with nothing to ask the registry. */
export const NPM_ENV: Record<string, string> = {
  npm_config_update_notifier: "false",
  npm_config_fund: "false",
  npm_config_audit: "false",
  npm_config_loglevel: "error",
};

export function packAndInstall(): InstalledPackage {
  const dir = mkdtempSync(join(tmpdir(), "bl-package-"));
  const source = join(dir, "source");
  const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: REPO, encoding: "utf8" })
    .split("\0")
    .filter((f) => f && existsSync(join(REPO, f)));
  for (const file of tracked) {
    mkdirSync(dirname(join(source, file)), { recursive: true });
    copyFileSync(join(REPO, file), join(source, file));
  }
  symlinkSync(join(REPO, "node_modules"), join(source, "node_modules"));
  const env = { ...process.env, ...NPM_ENV };
  // prepack builds dist/package/ in the copy; its output goes to stderr, the JSON to stdout.
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: source, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const packed = (JSON.parse(out.slice(out.indexOf("["))) as PackResult[])[0];
  const tarball = join(dir, packed.filename);
  const prefix = join(dir, "prefix");
  execFileSync("npm", ["install", "--global", "--prefix", prefix, "--offline", tarball], { cwd: dir, env, stdio: "pipe" });
  return {
    dir,
    tarball,
    packed,
    prefix,
    bin: join(prefix, "bin", "bastionless"),
    path: `${join(prefix, "bin")}:${process.env.PATH}`,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

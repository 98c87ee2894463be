// The Dockerfiles, checked without a Docker engine (none runs on our machines): dockerfile-utils (the
// linter of the VS Code Docker language service) with every rule an error, then our own structural
// checks — exec-form ENTRYPOINT/CMD, STOPSIGNAL SIGTERM, USER, tini as PID 1, the COPY sources exist
// after `npm run build:entrypoint`, and nothing secret-like in any instruction.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { validate, ValidationSeverity, type ValidatorSettings } from "dockerfile-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findDebianMirror, whyPodmanCannotRun } from "../../docker/images.ts";

const ROOT = join(import.meta.dirname, "../..");
const DOCKERFILES = ["docker/bastion/Dockerfile", "docker/app/Dockerfile.example"];

const STRICT: ValidatorSettings = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions with continuation lines joined and comments dropped (the parser directive is a comment too). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: Instruction | undefined;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) || (!pending && line.trim() === "")) return;
    const continued = line.endsWith("\\");
    const body = continued ? line.slice(0, -1) : line;
    if (pending) pending.args += " " + body.trim();
    else {
      const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(body);
      if (!m) throw new Error(`line ${index + 1}: not an instruction: ${line}`);
      pending = { keyword: m[1].toUpperCase(), args: m[2].trim(), line: index + 1 };
    }
    if (!continued) {
      out.push(pending);
      pending = undefined;
    }
  });
  if (pending) out.push(pending);
  return out;
}

const PINNED_VERSION = "3.3.2299.0";

/** An OpenPGP v4 fingerprint from the armoured key itself (RFC 4880 §12.2), no gpg needed. */
function fingerprintOf(armoured: string): string {
  const body = armoured
    .split(/\r?\n\r?\n/)[1]
    .split("\n=")[0]
    .replace(/\s/g, "");
  const bytes = Buffer.from(body, "base64");
  expect(bytes[0]).toBe(0x99); // old-format public-key packet, two-byte length
  const packet = bytes.subarray(0, 3 + bytes.readUInt16BE(1));
  return createHash("sha1").update(packet).digest("hex").toUpperCase();
}

const SECRET_LIKE = [
  /AKIA[0-9A-Z]{16}/, // access key id
  /ASIA[0-9A-Z]{16}/,
  /aws_secret_access_key/i,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /\b(password|passwd|secret|token|activation[_-]?code)\s*[=:]\s*\S+/i,
  /-code\s+\S+/, // amazon-ssm-agent -register -code …
];

beforeAll(() => {
  execFileSync("npm", ["run", "--silent", "build:entrypoint"], { cwd: ROOT, stdio: "pipe" });
}, 120_000);

describe("the linter", () => {
  it("reports a broken Dockerfile (the rules are on)", () => {
    const broken = "FROM node:20\ncmd ['node', 'a.js']\nCMD [\"node\", \"b.js\"]\nWORKDIR relative\n";
    const messages = validate(broken, STRICT).map((d) => d.severity);
    expect(messages.length).toBeGreaterThanOrEqual(4);
  });

  for (const file of DOCKERFILES) {
    it(`${file}: no diagnostics with every rule an error`, () => {
      const diagnostics = validate(readFileSync(join(ROOT, file), "utf8"), STRICT);
      expect(diagnostics.map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
    });
  }
});

describe.each(DOCKERFILES)("%s", (file) => {
  const text = readFileSync(join(ROOT, file), "utf8");
  const instructions = parseDockerfile(text);
  const all = (keyword: string) => instructions.filter((i) => i.keyword === keyword);
  const last = (keyword: string) => all(keyword).at(-1);

  it("ENTRYPOINT and CMD are in exec form, tini is PID 1 and runs the bundled entrypoint with node", () => {
    const entrypoint = JSON.parse(last("ENTRYPOINT")!.args) as string[];
    const cmd = JSON.parse(last("CMD")!.args) as string[];
    expect(entrypoint).toEqual(["/usr/bin/tini", "--", "node", "/opt/bastionless/entrypoint.mjs"]);
    expect(Array.isArray(cmd) && cmd.length > 0).toBe(true);
    expect(cmd[0]).not.toBe("npm");
  });

  it("stops with SIGTERM and names its USER", () => {
    expect(last("STOPSIGNAL")?.args).toBe("SIGTERM");
    expect(all("USER").length).toBeGreaterThan(0);
  });

  it("every COPY source exists after npm run build:entrypoint (the optional ${SSM_AGENT_DEB} aside)", () => {
    const sources = all("COPY").flatMap((c) =>
      c.args
        .split(/\s+/)
        .filter((a) => !a.startsWith("--"))
        .slice(0, -1),
    );
    expect(sources).toContain("dist/entrypoint.mjs");
    expect(sources).toContain("${SSM_AGENT_DEB}");
    for (const source of sources.filter((s) => !s.startsWith("${"))) expect(existsSync(join(ROOT, source)), source).toBe(true);
  });

  it("installs the agent with docker/agent/install.sh (a local SSM_AGENT_DEB, else the pinned, verified download), tini, and no secret-like value anywhere", () => {
    const run = all("RUN")
      .map((r) => r.args)
      .join("\n");
    expect(all("COPY").map((c) => c.args)).toContain("docker/agent/ ${SSM_AGENT_DEB} /tmp/agent/");
    expect(run).toContain("/tmp/agent/install.sh");
    expect(run).toContain("rm -rf /tmp/agent ");
    expect(run).toMatch(/\btini\b/);
    const arg = (name: string) => all("ARG").find((a) => a.args.startsWith(`${name}=`) || a.args === name)?.args;
    expect(arg("SSM_AGENT_DEB")).toBe("SSM_AGENT_DEB=");
    expect(arg("SSM_AGENT_VERSION")).toBe(`SSM_AGENT_VERSION=${PINNED_VERSION}`);
    expect(arg("SSM_AGENT_KEY_FINGERPRINT")).toBe(
      `SSM_AGENT_KEY_FINGERPRINT=${fingerprintOf(readFileSync(join(ROOT, "docker/agent/amazon-ssm-agent.gpg"), "utf8"))}`,
    );
    expect(text).not.toMatch(/\/latest\//);
    for (const pattern of SECRET_LIKE) expect(text, String(pattern)).not.toMatch(pattern);
    for (const i of [...all("ENV"), ...all("ARG")]) expect(i.args, `line ${i.line}`).not.toMatch(/(SECRET|TOKEN|PASSWORD|ACCESS_KEY|ACTIVATION)/i);
  });
});

describe("docker/bastion/Dockerfile", () => {
  const instructions = parseDockerfile(readFileSync(join(ROOT, "docker/bastion/Dockerfile"), "utf8"));
  const run = instructions
    .filter((i) => i.keyword === "RUN")
    .map((i) => i.args)
    .join("\n");

  it("has the database clients, and gives ssm-user sudo only behind ENABLE_SUDO=true", () => {
    expect(run).toMatch(/postgresql-client/);
    expect(run).toMatch(/default-mysql-client/);
    expect(instructions.find((i) => i.keyword === "ARG" && i.args.startsWith("ENABLE_SUDO"))?.args).toBe("ENABLE_SUDO=false");
    expect(run).toMatch(/if \[ "\$\{ENABLE_SUDO\}" = "true" \]; then .*NOPASSWD/);
    expect(run.replace(/if \[ "\$\{ENABLE_SUDO\}" = "true" \]; then .*?fi/s, "")).not.toMatch(/sudo/);
  });

  it("runs as bastion (uid 10001) by default, and its CMD as bastion even when run as root", () => {
    expect(instructions.find((i) => i.keyword === "ARG" && i.args.startsWith("BASTION_USER"))?.args).toBe("BASTION_USER=bastion");
    expect(instructions.filter((i) => i.keyword === "USER").map((i) => i.args)).toEqual(["${BASTION_USER}"]);
    expect(instructions.find((i) => i.keyword === "ENV")?.args).toBe("BASTION_APP_USER=bastion");
    expect(run).toContain("groupadd --gid 10001 bastion");
    expect(run).toContain("useradd --create-home --shell /bin/bash --uid 10001 --gid bastion bastion");
  });

  it("the bundle it copies runs with plain node", () => {
    const out = execFileSync("node", [join(ROOT, "dist/entrypoint.mjs"), "--help"], { cwd: ROOT, encoding: "utf8" });
    expect(out).toContain("BASTION_ENV");
  });
});

describe("docker/app/Dockerfile.example", () => {
  const instructions = parseDockerfile(readFileSync(join(ROOT, "docker/app/Dockerfile.example"), "utf8"));
  it("records the app image's own user before switching to root, for the entrypoint to run the CMD as", () => {
    const firstRun = instructions.findIndex((i) => i.keyword === "RUN");
    const userRoot = instructions.findIndex((i) => i.keyword === "USER" && i.args === "root");
    expect(instructions[firstRun].args).toBe('echo "$(id -u):$(id -g)" > /tmp/bastionless-app-user');
    expect(firstRun).toBeLessThan(userRoot);
    const run = instructions
      .filter((i) => i.keyword === "RUN")
      .map((i) => i.args)
      .join("\n");
    expect(run).toContain("install -m 0644 /tmp/bastionless-app-user /etc/bastionless/app-user");
  });
});

describe("docker/agent/install.sh", () => {
  const script = readFileSync(join(ROOT, "docker/agent/install.sh"), "utf8");
  it("picks AWS's package by TARGETARCH, the pinned version's path, its .sig, and refuses other architectures", () => {
    expect(script).toContain('case "${TARGETARCH:-amd64}" in');
    expect(script).toContain("amd64) agent_arch=debian_amd64 ;;");
    expect(script).toContain("arm64) agent_arch=debian_arm64 ;;");
    expect(script).toContain("/${SSM_AGENT_VERSION}/${agent_arch}/amazon-ssm-agent.deb");
    expect(script).toContain('"$url.sig"');
    expect(script).toMatch(/verify-signature\.sh" "\$deb" "\$deb\.sig" "\$here\/amazon-ssm-agent\.gpg" "\$SSM_AGENT_KEY_FINGERPRINT"/);
    expect(script).not.toContain("latest");
  });
  it("sets the agent's Profile.ShareCreds=false (no instance-role credentials in root's ~/.aws)", () => {
    expect(script).toContain("config.Profile = { ...config.Profile, ShareCreds: false };");
    expect(script).toContain('"/etc/amazon/ssm/amazon-ssm-agent.json"');
  });
});

describe("docker/agent/verify-signature.sh", () => {
  const verify = join(ROOT, "docker/agent/verify-signature.sh");
  // gpg makes the test key and signatures; the script itself needs only gpgv, as in the image.
  const gpg = spawnSync("gpg", ["--version"]);
  const dir = mkdtempSync(join(tmpdir(), "verify-signature-"));
  const env = { ...process.env, GNUPGHOME: join(dir, "gnupg") };
  let fingerprint = "";
  beforeAll(() => {
    if (gpg.error) throw new Error("gpg is not installed (make setup installs it in CI; else apt-get install gpg): it makes this test's keys");
    execFileSync("mkdir", ["-m", "700", env.GNUPGHOME]);
    execFileSync("gpg", ["--batch", "--quiet", "--passphrase", "", "--quick-gen-key", "Test signer <signer@example.com>", "ed25519", "sign", "1d"], {
      env,
      stdio: "pipe",
    });
    execFileSync("gpg", ["--batch", "--quiet", "--passphrase", "", "--quick-gen-key", "Other <other@example.com>", "ed25519", "sign", "1d"], {
      env,
      stdio: "pipe",
    });
    const colons = execFileSync("gpg", ["--with-colons", "--list-keys", "signer@example.com"], { env, encoding: "utf8" });
    fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1];
    writeFileSync(join(dir, "signer.asc"), execFileSync("gpg", ["--armor", "--export", "signer@example.com"], { env }));
    writeFileSync(join(dir, "agent.deb"), "the package\n");
    execFileSync("gpg", ["--batch", "--local-user", "signer@example.com", "--detach-sign", "-o", join(dir, "agent.deb.sig"), join(dir, "agent.deb")], {
      env,
      stdio: "pipe",
    });
    execFileSync("gpg", ["--batch", "--local-user", "other@example.com", "--detach-sign", "-o", join(dir, "other.sig"), join(dir, "agent.deb")], {
      env,
      stdio: "pipe",
    });
    writeFileSync(join(dir, "both.asc"), execFileSync("gpg", ["--armor", "--export", "signer@example.com", "other@example.com"], { env }));
    writeFileSync(join(dir, "tampered.deb"), "the package, changed\n");
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const check = (file: string, sig: string, key: string, fpr = fingerprint) =>
    spawnSync("sh", [verify, join(dir, file), join(dir, sig), join(dir, key), fpr], { encoding: "utf8" });

  it("accepts a good signature by the pinned key (spaces and case in the fingerprint do not matter)", () => {
    expect(check("agent.deb", "agent.deb.sig", "signer.asc")).toMatchObject({
      status: 0,
      stdout: `verify-signature: ${join(dir, "agent.deb")}: good signature by ${fingerprint}\n`,
    });
    expect(check("agent.deb", "agent.deb.sig", "signer.asc", fingerprint.toLowerCase().replace(/(.{4})/g, "$1 ")).status).toBe(0);
  });
  it("refuses a changed package", () => {
    const r = check("tampered.deb", "agent.deb.sig", "signer.asc");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/does not verify with .*signer\.asc: gpgv: BAD signature/);
  });
  it("refuses a good signature by another key in the key file", () => {
    const r = check("agent.deb", "other.sig", "both.asc");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`verify-signature: ${join(dir, "agent.deb")}: signed, but not by the key ${fingerprint}\n`);
  });
  it("refuses a signature by a key not in the file (AWS's key cannot verify a stranger's signature)", () => {
    const r = spawnSync(
      "sh",
      [verify, join(dir, "agent.deb"), join(dir, "agent.deb.sig"), join(ROOT, "docker/agent/amazon-ssm-agent.gpg"), "DE92C7DA3E56E92331D62A36BC1F495C97DD04ED"],
      { encoding: "utf8" },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/No public key/);
  });
});

describe("docker/images.ts", () => {
  it.each([
    [
      "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n",
      "http://deb.debian.org/debian",
    ],
    ["Types: deb\nURIs: http://mirror.example/debian-security\n\nTypes: deb\nURIs: http://mirror.example/debian\n", "http://mirror.example/debian"],
    ["deb [signed-by=/k.gpg] http://ftp.jp.debian.org/debian bookworm main\n", "http://ftp.jp.debian.org/debian"],
    [
      "deb http://security.debian.org/debian-security bookworm-security main\ndeb http://ftp.de.debian.org/debian bookworm main\n",
      "http://ftp.de.debian.org/debian",
    ],
    ["# nothing\n", undefined],
  ])("findDebianMirror: the mirror apt is configured with (%#)", (sources, mirror) => {
    expect(findDebianMirror(sources)).toBe(mirror);
  });

  it("says exactly why podman cannot run: a missing tool, or not root", async () => {
    const empty = mkdtempSync(join(tmpdir(), "no-podman-"));
    try {
      // /usr/sbin and /sbin are always searched: only a machine without podman there says this.
      const why = await whyPodmanCannotRun({ path: empty });
      if (existsSync("/usr/sbin/podman") || existsSync("/sbin/podman")) expect(why).toBeUndefined();
      else expect(why).toBe("podman is not installed: run `make setup` as root with CI=true, or `sudo apt-get install -y podman runc debootstrap`");
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    if (
      spawnSync("/bin/sh", ["-c", "command -v podman && command -v runc && command -v debootstrap"], { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } })
        .status === 0
    ) {
      expect(await whyPodmanCannotRun({ uid: 1000 })).toBe("podman runs here as root only (uid 1000): the image tests and make images need root");
    }
  });
});

describe("docker/README.md", () => {
  const readme = readFileSync(join(ROOT, "docker/README.md"), "utf8");
  it("says no Docker engine runs here but podman builds both images, and gives both architectures' builds and the task definition fragment", () => {
    expect(readme).toMatch(/No Docker engine runs on our machines/);
    expect(readme).toContain("`make images` builds both Dockerfiles");
    expect(readme).toContain("--platform linux/amd64");
    expect(readme).toContain("--platform linux/arm64");
    const fragment = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(readme)![1]) as { containerDefinitions: Array<Record<string, unknown>>; taskRoleArn: string };
    const container = fragment.containerDefinitions[0] as {
      linuxParameters: { initProcessEnabled: boolean };
      stopTimeout: number;
      environment: Array<{ name: string }>;
    };
    expect(container.linuxParameters.initProcessEnabled).toBe(true);
    expect(container.stopTimeout).toBeLessThanOrEqual(120);
    expect(container.environment.map((e) => e.name)).toEqual(expect.arrayContaining(["BASTION_ENV", "BASTION_IAM_ROLE", "BASTION_REGION"]));
    expect(readme).toMatch(/"enableExecuteCommand": true/);
  });
});

// The Dockerfiles, checked without a Docker engine (none runs on our machines): dockerfile-utils (the
// linter of the VS Code Docker language service) with every rule an error, then our own structural
// checks — exec-form ENTRYPOINT/CMD, STOPSIGNAL SIGTERM, USER, tini as PID 1, the COPY sources exist
// after `npm run build:entrypoint`, and nothing secret-like in any instruction.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { validate, ValidationSeverity, type ValidatorSettings } from "dockerfile-utils";
import { beforeAll, describe, expect, it } from "vitest";

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

  it("every COPY source exists after npm run build:entrypoint", () => {
    const sources = all("COPY").flatMap((c) => c.args.split(/\s+/).filter((a) => !a.startsWith("--")).slice(0, -1));
    expect(sources).toContain("dist/entrypoint.mjs");
    for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true);
  });

  it("installs the agent for the target architecture, tini, and no secret-like value anywhere", () => {
    const run = all("RUN").map((r) => r.args).join("\n");
    expect(run).toContain("${TARGETARCH");
    expect(run).toMatch(/debian_amd64/);
    expect(run).toMatch(/debian_arm64/);
    expect(run).toMatch(/\btini\b/);
    for (const pattern of SECRET_LIKE) expect(text, String(pattern)).not.toMatch(pattern);
    for (const i of [...all("ENV"), ...all("ARG")]) expect(i.args, `line ${i.line}`).not.toMatch(/(SECRET|TOKEN|PASSWORD|ACCESS_KEY|ACTIVATION)/i);
  });
});

describe("docker/bastion/Dockerfile", () => {
  const instructions = parseDockerfile(readFileSync(join(ROOT, "docker/bastion/Dockerfile"), "utf8"));
  const run = instructions.filter((i) => i.keyword === "RUN").map((i) => i.args).join("\n");

  it("has the database clients, and gives ssm-user sudo only behind ENABLE_SUDO=true", () => {
    expect(run).toMatch(/postgresql-client/);
    expect(run).toMatch(/default-mysql-client/);
    expect(instructions.find((i) => i.keyword === "ARG" && i.args.startsWith("ENABLE_SUDO"))?.args).toBe("ENABLE_SUDO=false");
    expect(run).toMatch(/if \[ "\$\{ENABLE_SUDO\}" = "true" \]; then .*NOPASSWD/);
    expect(run.replace(/if \[ "\$\{ENABLE_SUDO\}" = "true" \]; then .*?fi/s, "")).not.toMatch(/sudo/);
  });

  it("the bundle it copies runs with plain node", () => {
    const out = execFileSync("node", [join(ROOT, "dist/entrypoint.mjs"), "--help"], { cwd: ROOT, encoding: "utf8" });
    expect(out).toContain("BASTION_ENV");
  });
});

describe("docker/README.md", () => {
  const readme = readFileSync(join(ROOT, "docker/README.md"), "utf8");
  it("says no Docker engine runs here, and gives both architectures' builds and the task definition fragment", () => {
    expect(readme).toMatch(/No Docker engine runs on our machines/);
    expect(readme).toContain("--platform linux/amd64");
    expect(readme).toContain("--platform linux/arm64");
    const fragment = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(readme)![1]) as { containerDefinitions: Array<Record<string, unknown>>; taskRoleArn: string };
    const container = fragment.containerDefinitions[0] as { linuxParameters: { initProcessEnabled: boolean }; stopTimeout: number; environment: Array<{ name: string }> };
    expect(container.linuxParameters.initProcessEnabled).toBe(true);
    expect(container.stopTimeout).toBeLessThanOrEqual(120);
    expect(container.environment.map((e) => e.name)).toEqual(expect.arrayContaining(["BASTION_ENV", "BASTION_IAM_ROLE", "BASTION_REGION"]));
    expect(readme).toMatch(/"enableExecuteCommand": true/);
  });
});

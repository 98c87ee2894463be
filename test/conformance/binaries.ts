// AWS's binaries, given by path: whether they are there, and the version each one reports.
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAgentVersion, parsePluginVersion } from "./report.ts";

export const AGENT_BINARIES = ["amazon-ssm-agent", "ssm-agent-worker", "ssm-session-worker"] as const;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The one line to print when AWS's binaries are not all given, or undefined when they are.
 * `isExecutable` is injected for the test.
 */
export function missingBinariesLine(
  plugin: string | undefined,
  agentDir: string | undefined,
  isExecutable: (path: string) => boolean = executable,
): string | undefined {
  const missing: string[] = [];
  if (!plugin) missing.push("PLUGIN is not set");
  else if (!isExecutable(plugin)) missing.push(`PLUGIN=${plugin} is not an executable file`);
  if (!agentDir) missing.push("AGENT_DIR is not set");
  else {
    const absent = AGENT_BINARIES.filter((b) => !isExecutable(join(agentDir, b)));
    if (absent.length) missing.push(`AGENT_DIR=${agentDir} lacks ${absent.join(", ")}`);
  }
  if (missing.length === 0) return undefined;
  return `conformance needs AWS's binaries, none of which is in this repository: make conformance PLUGIN=<session-manager-plugin> AGENT_DIR=<directory holding ${AGENT_BINARIES.join(", ")}> (${missing.join("; ")}); docs/conformance.md says how to get them.`;
}

async function output(file: string, args: string[]): Promise<string> {
  const { stdout, stderr } = await promisify(execFile)(file, args, { timeout: 20_000 }).catch((e: { stdout?: string; stderr?: string }) => ({
    stdout: e.stdout ?? "",
    stderr: e.stderr ?? "",
  }));
  return `${stdout}\n${stderr}`;
}

export async function pluginVersionOf(plugin: string): Promise<string> {
  const text = await output(plugin, ["--version"]);
  return parsePluginVersion(text) ?? `unknown (--version printed ${JSON.stringify(text.trim().slice(0, 80))})`;
}

export async function agentVersionOf(agentDir: string): Promise<string> {
  const text = await output(join(agentDir, "amazon-ssm-agent"), ["-version"]);
  return parseAgentVersion(text) ?? `unknown (-version printed ${JSON.stringify(text.trim().slice(0, 80))})`;
}

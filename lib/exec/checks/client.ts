// The caller's machine: with --client plugin, that session-manager-plugin is there and new enough.
import { compareVersions } from "../../session/versions.ts";
import { fail, isUnknown, ok, unknown, type CheckResult, type ExecFacts } from "./result.ts";

export function pluginCheck(plugin: NonNullable<ExecFacts["plugin"]>, min: string): CheckResult {
  const t = "session-manager-plugin";
  if (isUnknown(plugin)) return unknown("plugin", t, `its version could not be read (${plugin.unknown})`, "run session-manager-plugin --version");
  if ("missing" in plugin) return fail("plugin", t, plugin.missing, "install it, or use --client native (no plugin needed)");
  if (compareVersions(plugin.version, min) < 0) return fail("plugin", t, `version ${plugin.version} is older than ${min}`, "update it, or use --client native");
  return ok("plugin", t, `version ${plugin.version}`);
}

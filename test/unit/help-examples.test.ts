// Every example in a program's --help starts with a command a user has: make (in this repository)
// or the installed bastionless command (package.json's bin), never a script name that is not on PATH.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { usage } from "../../lib/cli.ts";
import { cli as tunnel } from "../../lib/portforward/cli.ts";
import { cli as exec } from "../../lib/exec/cli.ts";
import { cli as cleanup } from "../../lib/cleanup/cli.ts";
import { COMMANDS } from "../../lib/bastionless/commands.ts";

const bin = Object.keys(JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8")).bin);

function examples(text: string): string[] {
  const after = text.split("Examples:\n")[1] ?? "";
  return after
    .split("\n\n")[0]
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

describe("--help examples", () => {
  const specs = [tunnel, exec, cleanup, ...COMMANDS.flatMap((c) => (c.spec ? [c.spec] : []))];
  it.each(specs.map((s) => [s.name, s]))("%s: each example runs make or an installed command", (_, spec) => {
    const lines = examples(usage(spec));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const command = line.replace(/^(\S+ ){5}cd \S+ && /, ""); // a crontab line: its command after the cd
      const first = command.split(" ")[0];
      expect(["make", ...bin], line).toContain(first);
      if (first === "bastionless")
        expect(
          COMMANDS.map((c) => c.name),
          line,
        ).toContain(command.split(" ")[1]);
    }
  });
});

import { describe, expect, it } from "vitest";
import { defineCli, exitCodeOf, parseFlags, runMain, usage } from "../../lib/cli.ts";
import { Declined, Interrupted, UsageError } from "../../lib/errors.ts";
import { AwsCallError } from "../../lib/aws/errors.ts";

const spec = defineCli({
  name: "portforward",
  summary: "Open a tunnel.",
  flags: {
    env: { type: "string", env: ["BASTION_ENV", "ENV"], placeholder: "name", description: "environment" },
    forward: { type: "string", multiple: true, placeholder: "L:HOST:R", description: "extra tunnel" },
    yes: { type: "boolean", short: "y", env: "BASTIONLESS_YES", description: "no prompts" },
    timeout: { type: "string", default: "5m", description: "readiness timeout" },
  },
});

describe("parseFlags", () => {
  it("takes flags over env vars over defaults", () => {
    expect(parseFlags(spec, ["--env", "prod"], { ENV: "stg" })).toMatchObject({ env: "prod", yes: false, timeout: "5m" });
    expect(parseFlags(spec, [], { ENV: "stg" })).toMatchObject({ env: "stg" });
    expect(parseFlags(spec, [], { BASTION_ENV: "dev", ENV: "stg" })).toMatchObject({ env: "dev" });
    expect(parseFlags(spec, [], {})).toMatchObject({ env: undefined, forward: undefined, debug: false, help: false });
  });

  it("collects repeatable flags and reads booleans from env", () => {
    const flags = parseFlags(spec, ["--forward", "1:a:2", "--forward=3:b:4", "-y"], {});
    const typed: { forward: string[] | undefined; yes: boolean; timeout: string } = flags;
    expect(typed.timeout).toBe("5m");
    expect(flags.forward).toEqual(["1:a:2", "3:b:4"]);
    expect(flags.yes).toBe(true);
    expect(parseFlags(spec, [], { BASTIONLESS_YES: "true" }).yes).toBe(true);
    expect(parseFlags(spec, [], { BASTIONLESS_YES: "0" }).yes).toBe(false);
  });

  it("reports bad input as a usage error naming the flag", () => {
    expect(() => parseFlags(spec, ["--nope"], {})).toThrow(new UsageError("unknown option --nope. Run portforward --help for usage."));
    expect(() => parseFlags(spec, ["--env"], {})).toThrow(new UsageError("--env <value> needs a value. Run portforward --help for usage."));
    expect(() => parseFlags(spec, [], { BASTIONLESS_YES: "maybe" })).toThrow(
      new UsageError("BASTIONLESS_YES=maybe is not a boolean for --yes: use true or false."),
    );
  });

  it("renders usage with env fallbacks and defaults", () => {
    const text = usage(spec);
    expect(text).toContain("Usage: portforward [options]");
    expect(text).toMatch(/--env <name> +environment \(env BASTION_ENV, ENV\)/);
    expect(text).toMatch(/--forward <L:HOST:R> +extra tunnel \(repeatable\)/);
    expect(text).toMatch(/-y, --yes +no prompts \(env BASTIONLESS_YES\)/);
    expect(text).toMatch(/--timeout <timeout> +readiness timeout \(default 5m\)/);
    expect(text).toMatch(/-h, --help +show this help/);
  });

  it("puts the description of a flag too long for the column on the next line, aligned", () => {
    const text = usage({
      ...spec,
      flags: { ...spec.flags, via: { type: "string", placeholder: "auto|ecs-exec|instance|something-longer", description: "which target" } },
    });
    const lines = text.split("\n");
    const at = lines.findIndex((l) => l.includes("--via <auto|ecs-exec|instance|something-longer>"));
    expect(lines[at]).toBe("      --via <auto|ecs-exec|instance|something-longer>");
    const column = lines.find((l) => l.includes("--env <name>"))!.indexOf("environment");
    expect(lines[at + 1]).toBe(" ".repeat(column) + "which target");
  });
});

describe("runMain", () => {
  async function run(main: () => Promise<number | void>, debug = false) {
    const out: string[] = [];
    let code = -1;
    await runMain(main, { name: "exec", debug: () => debug, write: (l) => out.push(l), exit: (c) => void (code = c) });
    return { code, out: out.join("") };
  }

  it("maps outcomes to exit codes", async () => {
    expect(await run(async () => undefined)).toEqual({ code: 0, out: "" });
    expect(await run(async () => 3)).toEqual({ code: 3, out: "" });
    expect(
      await run(async () => {
        throw new UsageError("--task is required with --yes.");
      }),
    ).toEqual({ code: 2, out: "exec: --task is required with --yes.\n" });
    expect(
      await run(async () => {
        throw new Declined();
      }),
    ).toEqual({ code: 0, out: "" });
    expect(
      await run(async () => {
        throw new Interrupted();
      }),
    ).toEqual({ code: 130, out: "exec: Interrupted.\n" });
    expect(
      await run(async () => {
        throw new Error("boom");
      }),
    ).toEqual({ code: 1, out: "exec: boom\n" });
  });

  it("treats a prompt's Ctrl-C as a quiet 130", async () => {
    const err = Object.assign(new Error("User force closed the prompt with SIGINT"), { name: "ExitPromptError" });
    expect(exitCodeOf(err)).toBe(130);
    expect(
      await run(async () => {
        throw err;
      }),
    ).toEqual({ code: 130, out: "" });
  });

  it("shows the stack and causes only with --debug, redacted", async () => {
    const cause = new Error("AccessDeniedException: token TokenValue=abcdefghijklmnop");
    const failure = () => Promise.reject(new AwsCallError("ecs:ExecuteCommand on task 1 was denied", "ecs:ExecuteCommand", "AccessDeniedException", { cause }));
    const plain = await run(failure);
    expect(plain).toEqual({ code: 1, out: "exec: ecs:ExecuteCommand on task 1 was denied\n" });
    const debug = await run(failure, true);
    expect(debug.out).toContain("caused by: Error: AccessDeniedException: token TokenValue=***");
    expect(debug.out).not.toContain("abcdefghijklmnop");
  });
});

// The README's way to try the programs by hand, followed as written: `make localcloud` in one terminal,
// its export lines pasted into a second, `make tunnel …` there, psql through it, Ctrl-C, nothing left.
// The second terminal holds the operator's key (docker/iam/operator.json exactly), and IAM refused none of its calls.
import { afterAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { CreateAccessKeyCommand, IAMClient } from "@aws-sdk/client-iam";
import { PROGRAM_USERS, type Denial } from "../localcloud/index.ts";
import { join } from "node:path";
import { NOTHING_LEFT, leftoversOf, psql, stateHome } from "./portforward-harness.ts";
import { REPO } from "../support/run.ts";
import { eventually } from "../support/eventually.ts";

const README = readFileSync(join(REPO, "README.md"), "utf8");
const TERMINAL_1 = "make localcloud";
const TERMINAL_2 = 'make tunnel ENV=stg ARGS="--target stg-db"';

/** A shell line run the way a terminal runs it: its own process group, so Ctrl-C reaches make and its program. */
function terminal(line: string, env: NodeJS.ProcessEnv): { child: ChildProcess; out: () => string; ctrlC: () => void; exited: Promise<number | null> } {
  const child = spawn("bash", ["-c", line], { cwd: REPO, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return { child, out: () => out, ctrlC: () => process.kill(-child.pid!, "SIGINT"), exited };
}

const running: ChildProcess[] = [];
const cleanups: Array<() => void> = [];
afterAll(() => {
  for (const c of running) {
    try {
      process.kill(-c.pid!, "SIGKILL");
    } catch {
      // its group is gone already
    }
  }
  for (const clean of cleanups) clean();
});

describe("the README's two-terminal start", () => {
  it("works as written: the local cloud's export lines point make tunnel at it, and Ctrl-C leaves nothing", async () => {
    expect(README).toContain(`${TERMINAL_1}  `);
    expect(README).toContain(`${TERMINAL_2}  `);
    // A clean environment, as a new terminal has: no AWS settings of ours.
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_") && k !== "BASTIONLESS_CONFIG"));
    const one = terminal(TERMINAL_1, base);
    running.push(one.child);
    await eventually(async () => (one.out().includes("# admin: curl ") ? true : undefined), 120_000, "the local cloud's export lines");
    expect(one.out()).toContain("# Paste these lines into another shell");
    // What the user pastes: every export line, taken as the shell would take it.
    const pasted = Object.fromEntries(
      one
        .out()
        .split("\n")
        .filter((l) => l.startsWith("export "))
        .map((l) => l.slice(7).split(/=(.*)/s).slice(0, 2)),
    );
    expect(Object.keys(pasted)).toEqual(expect.arrayContaining(["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]));

    const state2 = stateHome();
    cleanups.push(state2.remove);
    // The pasted key is the account's root: the operator's own key replaces it, as an admin hands one out.
    const iam = new IAMClient({
      endpoint: pasted.AWS_ENDPOINT_URL,
      region: pasted.AWS_REGION,
      credentials: { accessKeyId: pasted.AWS_ACCESS_KEY_ID, secretAccessKey: pasted.AWS_SECRET_ACCESS_KEY },
    });
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: PROGRAM_USERS.operator }))).AccessKey!;
    iam.destroy();
    const two = terminal(TERMINAL_2, {
      ...base,
      ...pasted,
      AWS_ACCESS_KEY_ID: key.AccessKeyId!,
      AWS_SECRET_ACCESS_KEY: key.SecretAccessKey!,
      XDG_STATE_HOME: state2.dir,
    });
    running.push(two.child);
    await eventually(async () => (/127\.0\.0\.1:15432 → \S+:5432 via /.test(two.out()) ? true : undefined), 120_000, "the tunnel's line");
    const query = await psql(15432, "app", "app", "select count(*) from greetings");
    expect(query.stdout.trim()).toMatch(/^\d+$/);

    two.ctrlC();
    await two.exited;
    expect(two.out()).toMatch(/Stopped bastion task \S+; nothing is left running\.\n/);
    const state = (await (await fetch(`${pasted.AWS_ENDPOINT_URL}/_localcloud/state`)).json()) as Parameters<typeof leftoversOf>[0];
    expect(leftoversOf(state)).toEqual(NOTHING_LEFT);
    const denials = (await (await fetch(`${pasted.AWS_ENDPOINT_URL}/_localcloud/denials`)).json()) as Denial[];
    expect(denials.map((d) => `${d.caller} was denied ${d.action} on ${d.resource}`)).toEqual([]);

    one.ctrlC();
    await one.exited;
    expect(one.out()).toContain("localcloud: SIGINT, stopping");
  }, 240_000);
});

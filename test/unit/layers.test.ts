// The house drawn from the imports (STYLE.md "The shape of the house"): esbuild resolves every import
// of every tracked source file, and the graph must have no arrow running back up and no circle.
// A rule broken here is named with both files and the reason the rule exists.
import { execFileSync } from "node:child_process";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { REPO } from "../support/run.ts";

/** From the bottom up. A module may import its own rank or lower, except where `separate` says. */
const RANKS: { rank: number; name: string; matches: RegExp }[] = [
  { rank: 0, name: "primitives", matches: /^lib\/[^/]+\.ts$/ },
  { rank: 1, name: "the AWS boundary", matches: /^lib\/aws\// },
  { rank: 2, name: "the session protocol", matches: /^lib\/session\// },
  { rank: 3, name: "a feature folder", matches: /^lib\/(portforward|exec|entrypoint|cleanup)\// },
  { rank: 4, name: "the one-command front", matches: /^lib\/bastionless\// },
  { rank: 5, name: "a script", matches: /^scripts\// },
];
/** The local cloud's doors: everything outside it enters through one of these. */
const LOCALCLOUD_DOORS = new Set(["test/localcloud/index.ts", "test/localcloud/dataplane/index.ts"]);

function rankOf(file: string) {
  return RANKS.find((r) => r.matches.test(file));
}

/** Why `from` may not import `to`, or undefined when it may. */
function layerViolation(from: string, to: string): string | undefined {
  const a = rankOf(from);
  const b = rankOf(to);
  if (a && !b && !to.startsWith("lib/") && !to.startsWith("package.json")) return `the product (${a.name}) imports ${to}, which no image or package carries`;
  if (a && b && b.rank > a.rank) return `${a.name} imports ${b.name}, a layer above it`;
  if (a && b && a.rank === 3 && b.rank === 3 && from.split("/")[1] !== to.split("/")[1])
    return "one program's feature folder imports another's: a rule both need belongs in a lower layer";
  const inCloud = (f: string) => f.startsWith("test/localcloud/");
  if (inCloud(from) && !/\.test\.ts$/.test(from) && to.startsWith("test/") && !inCloud(to))
    return "the local cloud imports a test helper: it is a product of its own and must run without the suite";
  if (!inCloud(from) && inCloud(to) && !LOCALCLOUD_DOORS.has(to))
    return "a module outside the local cloud reaches behind its doors (index.ts, dataplane/index.ts)";
  return undefined;
}

/** Every cycle (strongly connected component of more than one file, or a file importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** file → the repository files it imports (statically, dynamically or by require), as esbuild resolves them. */
async function importGraph(): Promise<Map<string, string[]>> {
  const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.ts", "*.mts"], { cwd: REPO, encoding: "utf8" })
    .split("\n")
    .filter((f) => f && !f.endsWith(".d.ts"));
  const result = await build({
    absWorkingDir: REPO,
    entryPoints: files.map((file) => ({ in: file, out: file })),
    bundle: true,
    write: false,
    metafile: true,
    platform: "node",
    format: "esm",
    packages: "external",
    // One module graph shared by every entry (not one bundle each): the same answer, many times faster.
    splitting: true,
    outdir: "graph",
    logLevel: "silent",
  });
  const graph = new Map<string, string[]>();
  for (const [file, input] of Object.entries(result.metafile.inputs)) {
    if (file.startsWith("node_modules/")) continue;
    graph.set(
      file,
      input.imports.filter((i) => !i.external && !i.path.startsWith("node_modules/")).map((i) => i.path),
    );
  }
  return graph;
}

describe("the rules", () => {
  it.each([
    ["lib/aws/ecs.ts", "lib/session/frames.ts", "the AWS boundary imports the session protocol, a layer above it"],
    ["lib/log.ts", "lib/aws/errors.ts", "primitives imports the AWS boundary, a layer above it"],
    ["lib/exec/target.ts", "lib/portforward/bastion.ts", "one program's feature folder imports another's: a rule both need belongs in a lower layer"],
    ["lib/portforward/run.ts", "scripts/portforward.mts", "a feature folder imports a script, a layer above it"],
    ["lib/config.ts", "test/support/run.ts", "the product (primitives) imports test/support/run.ts, which no image or package carries"],
    [
      "test/localcloud/gateway.ts",
      "test/support/eventually.ts",
      "the local cloud imports a test helper: it is a product of its own and must run without the suite",
    ],
    ["test/e2e/exec.test.ts", "test/localcloud/state.ts", "a module outside the local cloud reaches behind its doors (index.ts, dataplane/index.ts)"],
  ])("%s → %s is refused", (from, to, why) => {
    expect(layerViolation(from, to)).toBe(why);
  });

  it.each([
    ["scripts/exec.mts", "lib/exec/index.ts"],
    ["lib/session/port.ts", "lib/aws/sessions.ts"],
    ["lib/bastionless/commands.ts", "lib/portforward/cli.ts"],
    ["lib/portforward/run.ts", "lib/portforward/cli.ts"],
    ["lib/cli.ts", "package.json"],
    ["test/localcloud/sessions.test.ts", "test/support/bastion.ts"],
    ["test/unit/session/native-harness.ts", "test/localcloud/dataplane/index.ts"],
  ])("%s → %s is allowed", (from, to) => {
    expect(layerViolation(from, to)).toBeUndefined();
  });

  it("finds a circle of three and a file importing itself, and nothing in a tree", () => {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
      ["e", ["e"]],
    ]);
    expect(cycles(graph)).toEqual([["a", "b", "c"], ["e"]]);
    expect(
      cycles(
        new Map([
          ["a", ["b", "c"]],
          ["b", ["c"]],
          ["c", []],
        ]),
      ),
    ).toEqual([]);
  });
});

describe("the repository's imports", async () => {
  const graph = await importGraph();

  it("cover the product and the tests", () => {
    expect(graph.has("scripts/portforward.mts")).toBe(true);
    expect(graph.has("lib/session/channel.ts")).toBe(true);
    expect(graph.has("test/localcloud/index.ts")).toBe(true);
    expect(graph.size).toBeGreaterThan(300);
  });

  it("run one way: no arrow back up, no feature into another, nothing behind the local cloud's doors", () => {
    const broken = [...graph].flatMap(([from, imports]) => imports.map((to) => [from, to, layerViolation(from, to)]).filter(([, , why]) => why));
    expect(broken.map(([from, to, why]) => `${from} → ${to}: ${why}`)).toEqual([]);
  });

  it("have no circle", () => {
    expect(cycles(graph).map((c) => c.join(" ⇄ "))).toEqual([]);
  });
});

// The AWS actions each program can call, derived from the code rather than typed a second time:
// esbuild bundles the program with tree shaking (so only the lib/ functions it really reaches stay),
// and the IAM action literals of the reached `call({ action: "svc:Op" }, …)` wrappers are collected.
// Each `new XCommand(…)` and `paginateX(…)` left in the bundle is checked against them, so a call sent
// without its wrapper, or wrapped under the wrong action, is caught too. The policies are the JSON files beside
// this one; test/unit/iam.test.ts proves they allow exactly these actions. Never imported by a program.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { build } from "esbuild";

export type Principal = "entrypoint-task-role" | "operator" | "sweeper";

export interface Program {
  /** The entry point, relative to the repository root. */
  script: string;
  /** The IAM principal it runs as: the policy file docker/iam/<principal>.json. */
  principal: Principal;
}

export const PROGRAMS: Record<string, Program> = {
  entrypoint: { script: "scripts/entrypoint.mts", principal: "entrypoint-task-role" },
  portforward: { script: "scripts/portforward.mts", principal: "operator" },
  exec: { script: "scripts/exec.mts", principal: "operator" },
  "cleanup-orphans": { script: "scripts/cleanup-orphans.mts", principal: "sweeper" },
};

/**
 * Actions AWS authorizes as part of another call (Service Authorization Reference, "API operations"
 * tables of ssm and ecs): the request needs them although no API of that name is called.
 * Only the ones our requests trigger: CreateActivation and PutParameter carry Tags and
 * CreateActivation an IamRole; RunTask carries tags and launches a task definition with roles.
 */
export const IMPLIED_ACTIONS: Record<string, readonly string[]> = {
  "ssm:CreateActivation": ["ssm:AddTagsToResource", "iam:PassRole"],
  "ssm:PutParameter": ["ssm:AddTagsToResource"],
  "ecs:RunTask": ["ecs:TagResource", "iam:PassRole"],
};

/** Calls that need no permission at all ("No permissions are required", STS API reference). */
export const NO_PERMISSION_NEEDED: ReadonlySet<string> = new Set(["sts:GetCallerIdentity"]);

/** SDK package → IAM service prefix, for the Command cross-check. */
const SERVICE_PREFIX: Record<string, string> = {
  "@aws-sdk/client-ssm": "ssm",
  "@aws-sdk/client-ecs": "ecs",
  "@aws-sdk/client-rds": "rds",
  "@aws-sdk/client-kms": "kms",
  "@aws-sdk/client-iam": "iam",
  "@aws-sdk/client-sts": "sts",
  "@aws-sdk/client-s3": "s3",
  "@aws-sdk/client-cloudwatch-logs": "logs",
};

/** Operations whose IAM action has another name (S3 HeadBucket is authorized as s3:ListBucket). */
const ACTION_OF_OPERATION: Record<string, string> = {
  "s3:HeadBucket": "s3:ListBucket",
};

export interface ProgramAnalysis {
  /** The program's entry, relative to the root. */
  script: string;
  /** Actions of the lib/aws calls the program reaches, sorted. */
  actions: string[];
  /** Actions the Commands left in the bundle stand for, sorted (must equal `actions`). */
  commandActions: string[];
  /** Our source files in the bundle (reached by static or dynamic import). */
  modules: string[];
}

const ACTION_LITERAL = /\baction:\s*"([a-z0-9-]+:[A-Za-z0-9]+)"/g;
const COMMAND_NEW = /\bnew\s+([A-Za-z0-9]+)Command\s*\(/g;
/** An SDK paginator sends the Command of its operation: `paginateListTasks(` stands for `new ListTasksCommand(`. */
const PAGINATOR_CALL = /\bpaginate([A-Z][A-Za-z0-9]+)\s*\(/g;
const EXTERNAL_IMPORT = /import\s*\{([^}]*)\}\s*from\s*"(@aws-sdk\/[a-z0-9-]+)"/g;

/** Bundles `script` (packages external, tree-shaken) and reads the actions of what it reaches. */
export async function analyzeProgram(script: string, root: string = process.cwd()): Promise<ProgramAnalysis> {
  const result = await build({
    entryPoints: [resolve(root, script)],
    absWorkingDir: root,
    bundle: true,
    write: false,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    treeShaking: true,
    minify: false,
    metafile: true,
    logLevel: "silent",
    outfile: "analysis.mjs",
  });
  const text = result.outputFiles[0].text;
  const actions = [...new Set([...text.matchAll(ACTION_LITERAL)].map((m) => m[1]))].sort();

  const prefixOf = new Map<string, string>();
  for (const [, names, pkg] of text.matchAll(EXTERNAL_IMPORT)) {
    for (const raw of names.split(",")) {
      const [imported, local] = raw.trim().split(/\s+as\s+/);
      if (imported && SERVICE_PREFIX[pkg]) prefixOf.set((local ?? imported).trim(), SERVICE_PREFIX[pkg]);
    }
  }
  // Each operation sent, under the name the bundle imported for it: its Command, or its paginator.
  const sent = [
    ...[...text.matchAll(COMMAND_NEW)].map((m) => ({ operation: m[1], local: `${m[1]}Command` })),
    ...[...text.matchAll(PAGINATOR_CALL)].map((m) => ({ operation: m[1], local: `paginate${m[1]}` })),
  ];
  const commandActions = [
    ...new Set(
      sent.map(({ operation, local }) => {
        const prefix = prefixOf.get(local);
        if (!prefix) return `unknown:${operation}`;
        const action = `${prefix}:${operation}`;
        return ACTION_OF_OPERATION[action] ?? action;
      }),
    ),
  ].sort();
  const modules = Object.keys(result.metafile.inputs)
    .filter((p) => !p.includes("node_modules"))
    .sort();
  return { script, actions, commandActions, modules };
}

/** A program's direct actions plus what AWS authorizes with them, minus what needs no permission. */
export function requiredActions(direct: readonly string[]): string[] {
  const all = new Set<string>();
  for (const action of direct) {
    if (!NO_PERMISSION_NEEDED.has(action)) all.add(action);
    for (const implied of IMPLIED_ACTIONS[action] ?? []) all.add(implied);
  }
  return [...all].sort();
}

export interface PrincipalActions {
  principal: Principal;
  /** Programs found in the tree and analysed. */
  programs: string[];
  /** Programs declared in PROGRAMS whose script is not in the tree (yet). */
  missing: string[];
  /** Everything the principal must be allowed, sorted. */
  actions: string[];
  /** Per program: its analysis. */
  analyses: Record<string, ProgramAnalysis>;
}

/** Every principal with the actions of the programs that run as it. */
export async function actionsByPrincipal(
  root: string = process.cwd(),
  programs: Record<string, Program> = PROGRAMS,
): Promise<Record<Principal, PrincipalActions>> {
  const out = {} as Record<Principal, PrincipalActions>;
  for (const [name, program] of Object.entries(programs)) {
    const entry = (out[program.principal] ??= { principal: program.principal, programs: [], missing: [], actions: [], analyses: {} });
    if (!existsSync(resolve(root, program.script))) {
      entry.missing.push(name);
      continue;
    }
    const analysis = await analyzeProgram(program.script, root);
    entry.programs.push(name);
    entry.analyses[name] = analysis;
    entry.actions = [...new Set([...entry.actions, ...requiredActions(analysis.actions)])].sort();
  }
  return out;
}

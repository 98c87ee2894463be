// The one evaluator of identity-based policies: the unit proof of docker/iam/ against the code, the
// local cloud's authorization of every signed request, and its iam:SimulatePrincipalPolicy.
// Allow/Deny, Action/NotAction and Resource/NotResource with IAM wildcards (* and ?), policy variables
// (`${aws:userid}`…) in Resource and condition values, and the condition operators IAM defines for
// strings, ARNs, booleans, numbers, dates and Null, with IfExists and ForAnyValue/ForAllValues.
// An explicit Deny in any policy wins, then an Allow in any, else the implicit deny (IAM's evaluation
// logic for identity policies within one account; no SCPs, boundaries or resource policies).
// Condition key names are case-insensitive, values case-sensitive (IAM's rule). An operator it does not
// know throws.
import { asList, type PolicyDocument, type Statement } from "./policies.ts";

export interface Request {
  action: string;
  resource: string;
  /** Condition keys present in the request; a missing key is absent (not empty). */
  context?: Record<string, string | string[]>;
}

export type Decision = "allow" | "deny" | "implicit-deny";

/** A policy and where it came from, as IAM's simulator names it (SourcePolicyId / SourcePolicyType). */
export interface SourcedPolicy {
  id: string;
  type: "user" | "group" | "role" | "aws-managed" | "user-managed" | "none";
  document: PolicyDocument;
  /** The policy's JSON as stored, for statement positions (line/column); the document re-serialized when absent. */
  text?: string;
}

export interface MatchedStatement {
  policy: SourcedPolicy;
  index: number;
  statement: Statement;
}

export interface Evaluation {
  decision: Decision;
  /** The statements that decided: the Denies that applied for a deny, the Allows for an allow, none for an implicit deny. */
  matched: MatchedStatement[];
  /** Condition keys and policy variables of statements naming this action and resource that the request lacks. */
  missingContextKeys: string[];
}

/** IAM wildcard match: `*` any run, `?` one character; case-insensitive for actions only. */
export function wildcard(pattern: string, value: string, caseInsensitive = false): boolean {
  const source = "^" + pattern.split("").map(wildcardSource).join("") + "$";
  return new RegExp(source, caseInsensitive ? "is" : "s").test(value);
}

/** One character of a wildcard pattern as a regular expression. */
function wildcardSource(c: string): string {
  if (c === "*") return ".*";
  if (c === "?") return ".";
  return c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
}

type Context = Map<string, string | string[]>;

function contextOf(request: Request): Context {
  return new Map(Object.entries(request.context ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}

const NO_SUCH_VARIABLE = "\u0000no-such-variable";
const VARIABLE = /\$\{([^}]+)\}/g;

/** Substitutes IAM policy variables (`${aws:userid}`, and `${*}`, `${?}`, `${$}` for the literal characters). */
function substitute(value: string, context: Context): string {
  return value.replace(VARIABLE, (_, key: string) => {
    if (key === "*" || key === "?" || key === "$") return key;
    const v = context.get(key.toLowerCase());
    return typeof v === "string" ? v : NO_SUCH_VARIABLE;
  });
}

function variablesIn(value: string): string[] {
  return [...value.matchAll(VARIABLE)].map((m) => m[1]).filter((k) => k.includes(":"));
}

function matchesAction(statement: Statement, action: string): boolean {
  if (statement.NotAction !== undefined) return !asList(statement.NotAction).some((p) => wildcard(p, action, true));
  return asList(statement.Action).some((p) => wildcard(p, action, true));
}

function matchesResource(statement: Statement, resource: string, context: Context): boolean {
  if (statement.NotResource !== undefined) return !asList(statement.NotResource).some((p) => wildcard(substitute(p, context), resource));
  return asList(statement.Resource).some((p) => wildcard(substitute(p, context), resource));
}

const number = (s: string) => (/^-?\d+(\.\d+)?$/.test(s.trim()) ? Number(s) : NaN);
const date = (s: string) => (/^\d+$/.test(s) ? Number(s) * 1000 : Date.parse(s));
const BASE_OPERATORS: Record<string, (actual: string, expected: string) => boolean> = {
  StringEquals: (a, e) => a === e,
  StringNotEquals: (a, e) => a !== e,
  StringEqualsIgnoreCase: (a, e) => a.toLowerCase() === e.toLowerCase(),
  StringNotEqualsIgnoreCase: (a, e) => a.toLowerCase() !== e.toLowerCase(),
  StringLike: (a, e) => wildcard(e, a),
  StringNotLike: (a, e) => !wildcard(e, a),
  ArnEquals: (a, e) => wildcard(e, a),
  ArnLike: (a, e) => wildcard(e, a),
  ArnNotEquals: (a, e) => !wildcard(e, a),
  ArnNotLike: (a, e) => !wildcard(e, a),
  Bool: (a, e) => a.toLowerCase() === e.toLowerCase(),
  NumericEquals: (a, e) => number(a) === number(e),
  NumericNotEquals: (a, e) => number(a) !== number(e),
  NumericLessThan: (a, e) => number(a) < number(e),
  NumericLessThanEquals: (a, e) => number(a) <= number(e),
  NumericGreaterThan: (a, e) => number(a) > number(e),
  NumericGreaterThanEquals: (a, e) => number(a) >= number(e),
  DateEquals: (a, e) => date(a) === date(e),
  DateNotEquals: (a, e) => date(a) !== date(e),
  DateLessThan: (a, e) => date(a) < date(e),
  DateLessThanEquals: (a, e) => date(a) <= date(e),
  DateGreaterThan: (a, e) => date(a) > date(e),
  DateGreaterThanEquals: (a, e) => date(a) >= date(e),
};
const NEGATED = new Set(["StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike", "NumericNotEquals", "DateNotEquals"]);

function conditionHolds(operator: string, key: string, expected: string[], context: Context): boolean {
  const present = context.has(key.toLowerCase());
  if (operator === "Null") return expected.some((e) => (e === "true") === !present);
  let op = operator;
  let set: "ForAnyValue" | "ForAllValues" | undefined;
  const qualified = /^(ForAnyValue|ForAllValues):(.+)$/.exec(op);
  if (qualified) [set, op] = [qualified[1] as "ForAnyValue" | "ForAllValues", qualified[2]];
  const ifExists = op.endsWith("IfExists");
  if (ifExists) op = op.slice(0, -"IfExists".length);
  const compare = BASE_OPERATORS[op];
  if (!compare) throw new Error(`evaluate.ts does not know the condition operator ${operator}`);
  if (!present) return ifExists || set === "ForAllValues" || (NEGATED.has(op) && !set);
  const actual = asList(context.get(key.toLowerCase()));
  const anyExpected = (a: string) => expected.some((e) => compare(a, substitute(e, context)));
  if (set === "ForAllValues") return actual.every(anyExpected);
  if (set === "ForAnyValue") return actual.some(anyExpected);
  if (NEGATED.has(op)) return actual.every((a) => expected.every((e) => compare(a, substitute(e, context))));
  return actual.some(anyExpected);
}

function conditionsHold(statement: Statement, context: Context): boolean {
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    for (const [key, value] of Object.entries(keys)) {
      if (!conditionHolds(operator, key, asList(value), context)) return false;
    }
  }
  return true;
}

/** The condition keys and policy variables a statement reads. */
function keysRead(statement: Statement): string[] {
  const keys: string[] = [];
  for (const [, entries] of Object.entries(statement.Condition ?? {})) {
    for (const [key, value] of Object.entries(entries)) keys.push(key, ...asList(value).flatMap(variablesIn));
  }
  for (const r of [...asList(statement.Resource), ...asList(statement.NotResource)]) keys.push(...variablesIn(r));
  return keys;
}

/** The decision of a principal's identity policies on one request, with the statements that decided it. */
export function evaluatePolicies(policies: SourcedPolicy[], request: Request): Evaluation {
  const context = contextOf(request);
  const named: MatchedStatement[] = [];
  for (const policy of policies) {
    policy.document.Statement.forEach((statement, index) => {
      if (matchesAction(statement, request.action) && matchesResource(statement, request.resource, context)) named.push({ policy, index, statement });
    });
  }
  const missing = new Map<string, string>();
  for (const m of named) for (const key of keysRead(m.statement)) if (!context.has(key.toLowerCase())) missing.set(key.toLowerCase(), key);
  const applying = named.filter((m) => conditionsHold(m.statement, context));
  const denies = applying.filter((m) => m.statement.Effect === "Deny");
  const allows = applying.filter((m) => m.statement.Effect === "Allow");
  const missingContextKeys = [...missing.values()].sort();
  if (denies.length) return { decision: "deny", matched: denies, missingContextKeys };
  return { decision: allows.length ? "allow" : "implicit-deny", matched: allows, missingContextKeys };
}

/** The decision of one policy on one request. */
export function evaluate(policy: PolicyDocument, request: Request): Decision {
  return evaluatePolicies([{ id: "policy", type: "none", document: policy }], request).decision;
}

export interface Position {
  line: number;
  column: number;
}

/**
 * Where each statement of a policy's JSON text starts and ends (1-based line and column of its `{`
 * and just past its `}`), as the simulator's MatchedStatements report them. A lone Statement object
 * is statement 0.
 */
export function statementPositions(text: string): { start: Position; end: Position }[] {
  let line = 1;
  let column = 1;
  let i = 0;
  const advance = () => {
    if (text[i] === "\n") [line, column] = [line + 1, 1];
    else column++;
    i++;
  };
  const here = (): Position => ({ line, column });
  const skipString = () => {
    advance();
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") advance();
      advance();
    }
    advance();
  };
  /** Skips one JSON value; returns its extent. */
  const skipValue = (): { start: Position; end: Position } => {
    while (/\s/.test(text[i] ?? "")) advance();
    const start = here();
    if (text[i] === '"') skipString();
    else if (text[i] === "{" || text[i] === "[") {
      let depth = 0;
      do {
        if (text[i] === '"') {
          skipString();
          continue;
        }
        if (text[i] === "{" || text[i] === "[") depth++;
        if (text[i] === "}" || text[i] === "]") depth--;
        advance();
      } while (depth > 0 && i < text.length);
    } else while (i < text.length && !/[,}\]\s]/.test(text[i])) advance();
    return { start, end: here() };
  };
  // The top-level object: find the "Statement" member.
  while (i < text.length && text[i] !== "{") advance();
  advance();
  while (i < text.length) {
    while (/[\s,]/.test(text[i] ?? "")) advance();
    if (text[i] !== '"') break;
    const keyStart = i;
    skipString();
    const key = JSON.parse(text.slice(keyStart, i)) as string;
    while (/[\s:]/.test(text[i] ?? "")) advance();
    if (key !== "Statement") {
      skipValue();
      continue;
    }
    if (text[i] !== "[") return [skipValue()];
    advance();
    const out: { start: Position; end: Position }[] = [];
    for (;;) {
      while (/[\s,]/.test(text[i] ?? "")) advance();
      if (text[i] === "]" || i >= text.length) return out;
      out.push(skipValue());
    }
  }
  return [];
}

/** The actions a policy's Allow statements name (literal names; a wildcard in Action is returned as written). */
export function allowedActionNames(policy: PolicyDocument): string[] {
  return [...new Set(policy.Statement.filter((s) => s.Effect === "Allow").flatMap((s) => asList(s.Action)))].sort();
}

/**
 * Whether some Allow statement names `action` and no unconditional Deny statement (on every resource)
 * takes it away: the action-level check, independent of resources and conditions.
 */
export function actionAllowedSomewhere(policy: PolicyDocument, action: string): boolean {
  const denied = policy.Statement.some((s) => s.Effect === "Deny" && matchesAction(s, action) && !s.Condition && asList(s.Resource).includes("*"));
  return !denied && policy.Statement.some((s) => s.Effect === "Allow" && matchesAction(s, action));
}

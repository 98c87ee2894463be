// A small evaluator of identity-based policies, enough to prove docker/iam/ against the code:
// Allow/Deny, Action/NotAction and Resource/NotResource with IAM wildcards (* and ?), and the
// condition operators these policies use (String*, Arn*, Null, Bool; IfExists; ForAnyValue/ForAllValues).
// An explicit Deny wins, then any Allow, else the implicit deny (IAM's policy evaluation logic for one
// identity policy; no SCPs, boundaries or resource policies). An operator it does not know throws.
import { asList, type PolicyDocument, type Statement } from "./policies.ts";

export interface Request {
  action: string;
  resource: string;
  /** Condition keys present in the request; a missing key is absent (not empty). */
  context?: Record<string, string | string[]>;
}

export type Decision = "allow" | "deny" | "implicit-deny";

/** IAM wildcard match: `*` any run, `?` one character; case-insensitive for actions only. */
export function wildcard(pattern: string, value: string, caseInsensitive = false): boolean {
  const source = "^" + pattern.split("").map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&"))).join("") + "$";
  return new RegExp(source, caseInsensitive ? "is" : "s").test(value);
}

function matchesAction(statement: Statement, action: string): boolean {
  if (statement.NotAction !== undefined) return !asList(statement.NotAction).some((p) => wildcard(p, action, true));
  return asList(statement.Action).some((p) => wildcard(p, action, true));
}

function matchesResource(statement: Statement, resource: string): boolean {
  if (statement.NotResource !== undefined) return !asList(statement.NotResource).some((p) => wildcard(p, resource));
  return asList(statement.Resource).some((p) => wildcard(p, resource));
}

/** Substitutes IAM policy variables (`${aws:userid}`) from the request context. */
function substitute(value: string, context: Record<string, string | string[]>): string {
  return value.replace(/\$\{([^}]+)\}/g, (_, key: string) => {
    const v = context[key];
    return typeof v === "string" ? v : "\u0000no-such-variable";
  });
}

const BASE_OPERATORS: Record<string, (actual: string, expected: string) => boolean> = {
  StringEquals: (a, e) => a === e,
  StringNotEquals: (a, e) => a !== e,
  StringEqualsIgnoreCase: (a, e) => a.toLowerCase() === e.toLowerCase(),
  StringLike: (a, e) => wildcard(e, a),
  StringNotLike: (a, e) => !wildcard(e, a),
  ArnEquals: (a, e) => a === e,
  ArnLike: (a, e) => wildcard(e, a),
  ArnNotEquals: (a, e) => a !== e,
  ArnNotLike: (a, e) => !wildcard(e, a),
  Bool: (a, e) => a.toLowerCase() === e.toLowerCase(),
};
const NEGATED = new Set(["StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"]);

function conditionHolds(operator: string, key: string, expected: string[], context: Record<string, string | string[]>): boolean {
  const present = Object.prototype.hasOwnProperty.call(context, key);
  if (operator === "Null") return expected.some((e) => (e === "true") === !present);
  let op = operator;
  let set: "ForAnyValue" | "ForAllValues" | undefined;
  const qualified = /^(ForAnyValue|ForAllValues):(.+)$/.exec(op);
  if (qualified) [set, op] = [qualified[1] as "ForAnyValue" | "ForAllValues", qualified[2]];
  const ifExists = op.endsWith("IfExists");
  if (ifExists) op = op.slice(0, -"IfExists".length);
  const compare = BASE_OPERATORS[op];
  if (!compare) throw new Error(`evaluate.ts does not know the condition operator ${operator}`);
  if (!present) return ifExists || (set === "ForAllValues") || (NEGATED.has(op) && !set);
  const actual = asList(context[key]);
  const anyExpected = (a: string) => expected.some((e) => compare(a, substitute(e, context)));
  if (set === "ForAllValues") return actual.every(anyExpected);
  if (set === "ForAnyValue") return actual.some(anyExpected);
  if (NEGATED.has(op)) return actual.every((a) => expected.every((e) => compare(a, substitute(e, context))));
  return actual.some(anyExpected);
}

function conditionsHold(statement: Statement, context: Record<string, string | string[]>): boolean {
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    for (const [key, value] of Object.entries(keys)) {
      if (!conditionHolds(operator, key, asList(value), context)) return false;
    }
  }
  return true;
}

/** The decision of one policy on one request. */
export function evaluate(policy: PolicyDocument, request: Request): Decision {
  const context = request.context ?? {};
  const applies = (s: Statement) => matchesAction(s, request.action) && matchesResource(s, request.resource) && conditionsHold(s, context);
  if (policy.Statement.some((s) => s.Effect === "Deny" && applies(s))) return "deny";
  return policy.Statement.some((s) => s.Effect === "Allow" && applies(s)) ? "allow" : "implicit-deny";
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
  const denied = policy.Statement.some(
    (s) => s.Effect === "Deny" && matchesAction(s, action) && !s.Condition && asList(s.Resource).includes("*"),
  );
  return !denied && policy.Statement.some((s) => s.Effect === "Allow" && matchesAction(s, action));
}

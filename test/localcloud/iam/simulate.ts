// iam:SimulatePrincipalPolicy, answered by the one evaluator (docker/iam/evaluate.ts) over the
// principal's identity policies as moto stores them (moto itself answers HTTP 500). The shapes are
// IAM's: one EvaluationResult per action, its EvalDecision the most restrictive over the requested
// resources, each resource's own in ResourceSpecificResults; MatchedStatements with the policy's id,
// type and the statement's position; MissingContextValues, the keys the applicable statements read
// that ContextEntries did not give.
import { evaluatePolicies, statementPositions, type Evaluation, type MatchedStatement, type SourcedPolicy } from "../../../docker/iam/evaluate.ts";
import { asList, type PolicyDocument } from "../../../docker/iam/policies.ts";
import { AwsError } from "../aws-errors.ts";
import { memberList, memberStructs, type Xml } from "./query.ts";
import { NoSuchPrincipal, type Principals } from "./principals.ts";

const SIM_DECISION = { allow: "allowed", deny: "explicitDeny", "implicit-deny": "implicitDeny" } as const;
const RESTRICTIVE = ["deny", "implicit-deny", "allow"] as const;
const CONTEXT_TYPES = new Set([
  "string",
  "stringList",
  "numeric",
  "numericList",
  "boolean",
  "booleanList",
  "ip",
  "ipList",
  "binary",
  "binaryList",
  "date",
  "dateList",
]);

function matchedXml(matched: MatchedStatement[]): Xml {
  return matched.map(({ policy, index, statement }) => {
    const text = policy.text ?? JSON.stringify(policy.document, null, 2);
    const at = statementPositions(text)[index] ?? statementPositions(JSON.stringify(policy.document, null, 2))[index];
    void statement;
    return {
      SourcePolicyId: policy.id,
      SourcePolicyType: policy.type,
      StartPosition: at && { Line: at.start.line, Column: at.start.column },
      EndPosition: at && { Line: at.end.line, Column: at.end.column },
    };
  });
}

/** The context a simulation runs with, from ContextEntries (a missing key stays absent). */
export function contextEntries(form: Record<string, string>): Record<string, string | string[]> {
  const context: Record<string, string | string[]> = {};
  for (const entry of memberStructs(form, "ContextEntries")) {
    const name = entry.ContextKeyName;
    const type = entry.ContextKeyType ?? "string";
    if (!name) throw new AwsError("InvalidInput", "ContextKeyName is required in each ContextEntries member.");
    if (!CONTEXT_TYPES.has(type))
      throw new AwsError(
        "ValidationError",
        `1 validation error detected: Value '${type}' at 'contextEntries.member.contextKeyType' failed to satisfy constraint: Member must satisfy enum value set: [${[...CONTEXT_TYPES].join(", ")}]`,
      );
    const values = Object.entries(entry)
      .filter(([k]) => /^ContextKeyValues\.member\.\d+$/.test(k))
      .sort(([a], [b]) => Number(a.split(".")[2]) - Number(b.split(".")[2]))
      .map(([, v]) => v);
    context[name] = type.endsWith("List") || values.length !== 1 ? values : values[0];
  }
  return context;
}

export async function simulatePrincipalPolicy(principals: Principals, form: Record<string, string>): Promise<Record<string, Xml>> {
  const source = form.PolicySourceArn;
  const actions = memberList(form, "ActionNames");
  if (!source)
    throw new AwsError("ValidationError", "1 validation error detected: Value null at 'policySourceArn' failed to satisfy constraint: Member must not be null");
  if (!actions.length)
    throw new AwsError("ValidationError", "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null");
  for (const field of ["ResourcePolicy", "CallerArn", "ResourceOwner", "ResourceHandlingOption", "PermissionsBoundaryPolicyInputList.member.1"]) {
    // Answering without them would be a silent wrong answer: refuse what is not simulated.
    if (form[field] !== undefined)
      throw new AwsError(
        "InvalidInput",
        `The local cloud does not simulate ${field.split(".")[0]}: only the principal's identity policies and PolicyInputList.`,
      );
  }
  const resources = memberList(form, "ResourceArns");
  const context = contextEntries(form);
  let policies: SourcedPolicy[];
  try {
    policies = await principals.policiesOf(source);
  } catch (error) {
    if (error instanceof NoSuchPrincipal) {
      const kind = /:(user|role|group)\//.exec(source)?.[1];
      throw kind
        ? new AwsError("NoSuchEntity", `The ${kind} with name ${source.split("/").pop()} cannot be found.`, 404)
        : new AwsError("InvalidInput", `Invalid ARN: ${source}. The policy source must be an IAM user, group or role.`);
    }
    throw error;
  }
  const extra = memberList(form, "PolicyInputList").map((text, i): SourcedPolicy => {
    let parsed: { Statement?: unknown };
    try {
      parsed = JSON.parse(text) as { Statement?: unknown };
    } catch {
      throw new AwsError("MalformedPolicyDocument", `PolicyInputList.${i + 1} is not valid JSON.`);
    }
    return {
      id: `PolicyInputList.${i + 1}`,
      type: "none",
      text,
      document: { Version: "2012-10-17", Statement: asList(parsed.Statement as PolicyDocument["Statement"]) },
    };
  });
  const all = [...policies, ...extra];

  const results = actions.map((action) => {
    const per = (resources.length ? resources : ["*"]).map((resource) => ({ resource, evaluation: evaluatePolicies(all, { action, resource, context }) }));
    const worst: Evaluation = RESTRICTIVE.map((d) => per.find((p) => p.evaluation.decision === d)).find(Boolean)!.evaluation;
    const missing = [...new Set(per.flatMap((p) => p.evaluation.missingContextKeys))].sort();
    return {
      EvalActionName: action,
      EvalResourceName: resources.length <= 1 ? (resources[0] ?? "*") : undefined,
      EvalDecision: SIM_DECISION[worst.decision],
      MatchedStatements: matchedXml(worst.matched),
      MissingContextValues: missing,
      EvalDecisionDetails: resources.length ? {} : undefined,
      ResourceSpecificResults: resources.length
        ? per.map((p) => ({
            EvalResourceName: p.resource,
            EvalResourceDecision: SIM_DECISION[p.evaluation.decision],
            MatchedStatements: matchedXml(p.evaluation.matched),
            MissingContextValues: p.evaluation.missingContextKeys,
          }))
        : undefined,
    };
  });
  const start = form.Marker ? Number(form.Marker) : 0;
  const maxItems = form.MaxItems ? Number(form.MaxItems) : 100;
  if (!Number.isInteger(start) || start < 0 || start > results.length) throw new AwsError("InvalidInput", "Invalid Marker.");
  const page = results.slice(start, start + maxItems);
  const truncated = start + maxItems < results.length;
  return { EvaluationResults: page, IsTruncated: truncated, Marker: truncated ? String(start + maxItems) : undefined };
}

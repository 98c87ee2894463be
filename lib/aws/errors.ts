// Turning AWS failures into one line that names the operation, the object and the fix.
// Only the error names we act on are mapped; anything else keeps AWS's own message.

export interface AwsErrorLike {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

/** The error AWS (or the SDK) raised, under any AwsCallError that explains it. */
export function awsErrorOf(error: unknown): AwsErrorLike | undefined {
  let e = error;
  for (let depth = 0; e instanceof AwsCallError && e.cause !== undefined && depth < 8; depth++) e = e.cause;
  return e as AwsErrorLike | undefined;
}

/** The AWS error's name (`AccessDeniedException`, `ThrottlingException`, …), read through our wrapping. */
export function awsErrorName(error: unknown): string | undefined {
  if (error instanceof AwsCallError && error.errorName) return error.errorName;
  const e = awsErrorOf(error);
  return e?.name ?? e?.code;
}

/** The HTTP status AWS answered with, read through our wrapping; undefined when none came back. */
export function httpStatusOf(error: unknown): number | undefined {
  return awsErrorOf(error)?.$metadata?.httpStatusCode;
}

const ACCESS_DENIED = new Set(["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException", "AuthorizationError"]);
const THROTTLING = new Set(["ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "TooManyUpdates"]);
const EXPIRED = new Set(["ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"]);

export function isAccessDenied(error: unknown): boolean {
  return ACCESS_DENIED.has(awsErrorName(error) ?? "");
}

export function isThrottling(error: unknown): boolean {
  return THROTTLING.has(awsErrorName(error) ?? "");
}

export function isExpiredCredentials(error: unknown): boolean {
  return EXPIRED.has(awsErrorName(error) ?? "");
}

/** 5xx and network failures: worth another try. */
export function isTransient(error: unknown): boolean {
  const e = awsErrorOf(error);
  const status = httpStatusOf(error) ?? 0;
  return (
    status >= 500 ||
    isThrottling(error) ||
    ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "TimeoutError", "RequestTimeout"].includes(e?.code ?? e?.name ?? "")
  );
}

/** Throttling, 5xx, timeouts and network errors are worth another try; AccessDenied never is. */
export function isRetryable(error: unknown): boolean {
  if (isAccessDenied(error)) return false;
  return isTransient(error);
}

export function isNotFound(error: unknown, ...names: string[]): boolean {
  return names.includes(awsErrorName(error) ?? "");
}

/** An AWS call that failed, explained: `message` is the one line the user sees. */
export class AwsCallError extends Error {
  override name = "AwsCallError";
  constructor(
    message: string,
    readonly action: string,
    readonly errorName: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface CallContext {
  /** IAM action, e.g. "ssm:CreateActivation". */
  action: string;
  /** What it was called on, e.g. "task 5f2e… in cluster stg-main". */
  object?: string;
  /** The profile in use, for the credentials remedy. */
  profile?: string;
}

const CLIENT_PROFILE = Symbol("bastionless.clientProfile");

/** Marks a failure with the profile of the client it came from (createClients' clients do), for the credentials remedy. */
export function withClientProfile<E>(error: E, profile: string | undefined): E {
  if (profile !== undefined && typeof error === "object" && error !== null)
    Object.defineProperty(error, CLIENT_PROFILE, { value: profile, configurable: true });
  return error;
}

function clientProfileOf(error: unknown): string | undefined {
  const e = awsErrorOf(error) as { [CLIENT_PROFILE]?: string } | undefined;
  return typeof e === "object" && e !== null ? e[CLIENT_PROFILE] : undefined;
}

/** One line naming the operation, the object and the fix. */
export function explainAwsError(error: unknown, context: CallContext): string {
  const profile = context.profile ?? clientProfileOf(error);
  const name = awsErrorName(error);
  const on = context.object ? ` on ${context.object}` : "";
  const original = firstLine((error as AwsErrorLike)?.message ?? String(error));
  if (isAccessDenied(error)) {
    return `${context.action}${on} was denied: allow "${context.action}" for the caller's IAM identity (see docker/iam/). AWS said: ${original}`;
  }
  if (isExpiredCredentials(error)) {
    return `${context.action}${on} failed: the AWS credentials have expired. Refresh them${profile ? ` (aws sso login --profile ${profile})` : ""} and try again.`;
  }
  if (name === "CredentialsProviderError" || /Could not load credentials/i.test(original)) {
    return `${context.action}${on} failed: no AWS credentials were found. Pass --profile, set AWS_PROFILE, or run aws sso login.`;
  }
  if (/Region is missing/i.test(original)) {
    return `${context.action}${on} failed: no AWS region is set. Pass --region or set AWS_REGION.`;
  }
  if (isThrottling(error)) {
    const attempts = (error as AwsErrorLike)?.$metadata?.attempts;
    return `${context.action}${on} was throttled by AWS${attempts && attempts > 1 ? ` after ${attempts} attempts` : ""}: try again in a minute, or lower the request rate.`;
  }
  const code = (error as { code?: string })?.code;
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return `${context.action}${on} failed: the AWS endpoint could not be reached (${code}). Check the network, AWS_ENDPOINT_URL and the region.`;
  }
  return `${context.action}${on} failed: ${name && !original.startsWith(name) ? `${name}: ` : ""}${original}`;
}

/** Runs one AWS call and rethrows its failure as an AwsCallError with the explained line. */
export async function call<T>(context: CallContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AwsCallError) throw error;
    throw new AwsCallError(explainAwsError(error, context), context.action, awsErrorName(error), { cause: error });
  }
}

/**
 * The pages of an SDK paginator (`paginateListTasks({ client }, input)`), each request run by call():
 * a failed page is explained and wrapped as one call would be. Stopping early ends the paginator.
 */
export async function* callPages<T>(context: CallContext, paginator: AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
  const pages = paginator[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await call(context, () => pages.next());
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await pages.return?.();
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0].trim();
}

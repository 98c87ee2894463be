// The cluster's side of ECS Exec: where sessions are logged (and that the group or bucket exists),
// and the KMS key sessions are encrypted with.
import { fail, isUnknown, ok, unknown, warn, type CheckResult, type ExecFacts } from "./result.ts";

export function clusterChecks(f: ExecFacts): CheckResult[] {
  const out = [clusterLoggingCheck(f)];
  if (f.logGroup) out.push(logGroupCheck(f.logGroup));
  if (f.bucket) out.push(bucketCheck(f.bucket, f.cluster.name));
  return out;
}

function clusterLoggingCheck(f: ExecFacts): CheckResult {
  const c = f.cluster;
  const title = "Cluster exec logging";
  const logging = c.execLogging ?? "DEFAULT";
  if (logging === "NONE")
    return warn(
      "cluster-logging",
      title,
      `cluster ${c.name} logs no exec session (logging NONE)`,
      "set executeCommandConfiguration.logging to DEFAULT or OVERRIDE if sessions must be audited",
    );
  if (logging === "OVERRIDE" && !c.execLogGroup && !c.execS3Bucket) {
    return fail(
      "cluster-logging",
      title,
      `cluster ${c.name} has logging OVERRIDE but names no log group or bucket`,
      `aws ecs update-cluster --cluster ${c.name} --configuration 'executeCommandConfiguration={logging=OVERRIDE,logConfiguration={cloudWatchLogGroupName=<group>}}'`,
    );
  }
  if (logging === "DEFAULT") {
    return ok(
      "cluster-logging",
      title,
      f.logGroup
        ? `DEFAULT: sessions go to the container's awslogs group ${f.logGroup.name}`
        : `DEFAULT, but container ${f.container} has no awslogs driver: session output is not recorded`,
    );
  }
  const where = [c.execLogGroup ? `log group ${c.execLogGroup}` : "", c.execS3Bucket ? `bucket ${c.execS3Bucket}` : ""].filter(Boolean).join(" and ");
  return ok("cluster-logging", title, `OVERRIDE: sessions go to ${where}`);
}

function logGroupCheck(logGroup: NonNullable<ExecFacts["logGroup"]>): CheckResult {
  const t = "Exec log group";
  const { name, exists } = logGroup;
  if (isUnknown(exists))
    return unknown(
      "log-group",
      t,
      `log group ${name} could not be looked up (${exists.unknown})`,
      `check that log group ${name} exists (aws logs describe-log-groups --log-group-name-prefix ${name})`,
    );
  if (exists) return ok("log-group", t, `log group ${name} exists`);
  return fail(
    "log-group",
    t,
    `log group ${name} does not exist: the agent cannot record sessions and exec fails`,
    `aws logs create-log-group --log-group-name ${name}`,
  );
}

function bucketCheck(bucket: NonNullable<ExecFacts["bucket"]>, cluster: string): CheckResult {
  const t = "Exec log bucket";
  const { name, status } = bucket;
  if (isUnknown(status))
    return unknown(
      "s3-bucket",
      t,
      `bucket ${name} could not be looked up (${status.unknown})`,
      `check that bucket ${name} exists and the task role may write to it`,
    );
  if (status === "exists") return ok("s3-bucket", t, `bucket ${name} exists`);
  if (status === "forbidden")
    return unknown(
      "s3-bucket",
      t,
      `bucket ${name} exists but the caller may not list it (403)`,
      `check that it is in this account and the task role may s3:PutObject to it`,
    );
  return fail("s3-bucket", t, `bucket ${name} does not exist`, `create it (aws s3 mb s3://${name}) or fix logConfiguration.s3BucketName of cluster ${cluster}`);
}

export function kmsCheck(f: ExecFacts): CheckResult {
  const t = "KMS key (caller)";
  if (!f.kmsProbe) return ok("kms-key", t, `cluster ${f.cluster.name} encrypts sessions with TLS only (no kmsKeyId)`);
  const { keyId, result } = f.kmsProbe;
  if (isUnknown(result))
    return unknown(
      "kms-key",
      t,
      `kms:GenerateDataKey on ${keyId} could not be tried (${result.unknown})`,
      `check that the caller may kms:GenerateDataKey on key ${keyId} (IAM policy and key policy)`,
    );
  if (result === "ok") return ok("kms-key", t, `the caller may kms:GenerateDataKey on ${keyId}`);
  const cause = `${result.errorName}: ${result.message}`;
  if (/AccessDenied/.test(result.errorName)) {
    return fail(
      "kms-key",
      t,
      `the caller may not use key ${keyId} (${cause})`,
      `allow kms:GenerateDataKey on ${keyId} for the caller, in its IAM policy and in the key policy`,
    );
  }
  if (/NotFound|Disabled|InvalidState/.test(result.errorName)) {
    return fail(
      "kms-key",
      t,
      `key ${keyId} cannot be used (${cause})`,
      `enable the key or set a usable kmsKeyId in cluster ${f.cluster.name}'s executeCommandConfiguration`,
    );
  }
  return unknown(
    "kms-key",
    t,
    `kms:GenerateDataKey on ${keyId} failed (${cause})`,
    `check that key ${keyId} is enabled and the caller may kms:GenerateDataKey on it`,
  );
}

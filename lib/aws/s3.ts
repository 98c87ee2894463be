// S3: whether a bucket exists and the caller can reach it (where ECS Exec may write transcripts).
import { HeadBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { call, httpStatusOf, isNotFound } from "./errors.ts";

/** "exists", "missing" (404) or "forbidden" (403: it exists but is not ours to see, or the caller lacks s3:ListBucket). */
export async function getBucketStatus(s3: S3Client, bucket: string): Promise<"exists" | "missing" | "forbidden"> {
  try {
    await call({ action: "s3:ListBucket", object: `bucket ${bucket}` }, () => s3.send(new HeadBucketCommand({ Bucket: bucket })));
    return "exists";
  } catch (error) {
    const status = httpStatusOf(error);
    if (status === 404 || isNotFound(error, "NotFound", "NoSuchBucket")) return "missing";
    if (status === 403) return "forbidden";
    throw error;
  }
}

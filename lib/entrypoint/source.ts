// Which container this is: the ECS task (metadata v4), the Cloud Run instance (metadata server),
// else the hostname. The source goes into the bastionless:source tag; its id names the parameter.
import { hostname as osHostname } from "node:os";

export interface Source {
  platform: "ecs" | "cloudrun" | "host";
  /** The bastionless:source tag: the ECS task ARN, `cloudrun:<service>/<instance id>` or `host:<hostname>`. */
  source: string;
  /** The last part of the parameter name: the ECS task id, the Cloud Run instance id or the hostname. */
  sourceId: string;
  /** Why a platform's metadata was not used, when we fell back to the hostname. */
  fallbackReason?: string;
}

export interface FindSourceOptions {
  env?: NodeJS.ProcessEnv;
  hostname?: () => string;
  fetch?: typeof fetch;
  /** Per request. */
  timeoutMs?: number;
  attempts?: number;
}

export async function findSource(options: FindSourceOptions = {}): Promise<Source> {
  const env = options.env ?? process.env;
  const fetchJson = metadataFetcher(options);
  const host = (options.hostname ?? osHostname)();
  let fallbackReason: string | undefined;

  const ecsUri = env.ECS_CONTAINER_METADATA_URI_V4;
  if (ecsUri) {
    try {
      const task = JSON.parse(await fetchJson(`${ecsUri.replace(/\/$/, "")}/task`)) as { TaskARN?: string };
      const arn = task.TaskARN ?? "";
      if (!/^arn:aws[\w-]*:ecs:[^:]*:\d*:task\/.+/.test(arn)) throw new Error(`no task ARN in the answer (TaskARN=${JSON.stringify(task.TaskARN)})`);
      return { platform: "ecs", source: arn, sourceId: arn.slice(arn.lastIndexOf("/") + 1) };
    } catch (error) {
      fallbackReason = `ECS task metadata (${ecsUri}/task) could not be read: ${(error as Error).message}`;
    }
  } else if (env.K_SERVICE) {
    // Cloud Run sets K_SERVICE; the instance id comes from the metadata server (GCE_METADATA_HOST overrides it, as in Google's libraries).
    const base = env.GCE_METADATA_HOST ? `http://${env.GCE_METADATA_HOST}` : "http://metadata.google.internal";
    try {
      const id = (await fetchJson(`${base}/computeMetadata/v1/instance/id`, { "Metadata-Flavor": "Google" })).trim();
      if (!/^[\w.-]+$/.test(id)) throw new Error(`unexpected instance id ${JSON.stringify(id.slice(0, 80))}`);
      return { platform: "cloudrun", source: `cloudrun:${env.K_SERVICE}/${id}`, sourceId: id };
    } catch (error) {
      fallbackReason = `the Cloud Run metadata server (${base}) could not be read: ${(error as Error).message}`;
    }
  }
  return { platform: "host", source: `host:${host}`, sourceId: host, ...(fallbackReason ? { fallbackReason } : {}) };
}

function metadataFetcher(options: FindSourceOptions): (url: string, headers?: Record<string, string>) => Promise<string> {
  const doFetch = options.fetch ?? fetch;
  const attempts = options.attempts ?? 3;
  const timeoutMs = options.timeoutMs ?? 1500;
  return async (url, headers = {}) => {
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const response = await doFetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return await response.text();
      } catch (error) {
        lastError = error;
        if (attempt < attempts) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
    throw lastError;
  };
}

// Facts of the demo world that tests wait for.
import type { LocalCloud } from "../localcloud/index.ts";
import { eventually } from "./eventually.ts";

/** The id of the demo service's task once it is RUNNING (the world starts it with the cloud). */
export async function runningServiceTaskId(cloud: LocalCloud, service = "stg-app"): Promise<string> {
  const group = `service:${service}`;
  const state = await eventually(
    async () => {
      const s = await cloud.state();
      return s.tasks.some((t) => t.group === group && t.lastStatus === "RUNNING") ? s : undefined;
    },
    60_000,
    `${service}'s task RUNNING`,
  );
  return state.tasks
    .find((t) => t.group === group && t.lastStatus === "RUNNING")!
    .taskArn.split("/")
    .at(-1)!;
}

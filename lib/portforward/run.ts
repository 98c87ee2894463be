// One portforward run's context, settled before anything is launched: flags over env vars over the
// config over prompts, the AWS clients for the env's profile and region, the session log, and the
// Ctrl-C / closed-terminal handling that every later step consults.
import { createClients, requireRegion, type AwsClients } from "../aws/clients.ts";
import { listClusterNames } from "../aws/ecs.ts";
import { configuredEnvs, envConfig, loadConfig } from "../config.ts";
import { UsageError } from "../errors.ts";
import { localUser } from "../local.ts";
import { createLogger, type Logger } from "../log.ts";
import { makeParentWatch } from "../process.ts";
import { canPrompt, selectOne, type PromptContext } from "../prompts.ts";
import type { ClientChoice } from "../session/index.ts";
import { envChoices, nameChoices } from "./choices.ts";
import type { PortforwardFlags } from "./cli.ts";
import { parseBindAddress } from "./forwards.ts";
import { watchInterrupts, type Interrupts } from "./interrupts.ts";
import { resolveSettings, type Settings } from "./options.ts";
import { assertAddressUsable, clientForAddress, clientForSocket } from "./preflight.ts";
import { openRunLog, teeLogger, type RunLog } from "./state-log.ts";

export interface Run {
  settings: Settings;
  /** --address, parsed; where every local port listens. */
  address: string;
  /** settings.client, narrowed to one that can listen on `address`. */
  client: ClientChoice;
  clients: AwsClients;
  region: string;
  prompt: PromptContext;
  log: Logger;
  file: RunLog;
  interrupts: Interrupts;
  user: string;
  /** The bastionless.config.json this run read, if any. */
  configPath?: string;
  /** --socket, and --local-port as typed (the two exclude each other). */
  socket?: string;
  localPortFlag?: string;
}

/** Settings (flags > env vars > config > prompts), clients, the session log and Ctrl-C handling. */
export async function startRun(flags: PortforwardFlags): Promise<Run> {
  const address = parseBindAddress(flags.address);
  await assertAddressUsable(address);
  const config = loadConfig();
  // First of all: a closed terminal or a SIGTERM from here on ends the run without a question, and
  // when make started us (makeParentWatch) so does make's death.
  const interrupts = watchInterrupts((line) => process.stderr.write(`\n${line}\n`), process, makeParentWatch());
  const prompt: PromptContext = {
    interactive: canPrompt(flags.yes) && !flags.json,
    note: (line) => process.stderr.write(line + "\n"),
    signal: interrupts.startAborted,
  };
  const defaults = envConfig(config, undefined);
  let clients = createClients({ profile: flags.profile ?? defaults.profile, region: flags.region ?? defaults.region });
  let env = flags.env;
  if (!env) {
    if (!prompt.interactive) throw new UsageError("Missing --env: pass --env <name> (or set BASTION_ENV).");
    env = await selectOne(prompt, "env", "--env", nameChoices(envChoices(configuredEnvs(config), await listClusterNames(clients.ecs))));
  }
  const settings = resolveSettings(env, flags, envConfig(config, env));
  const client = clientForSocket(clientForAddress(settings.client, address), flags.socket);
  clients.destroy();
  clients = createClients({ profile: settings.profile, region: settings.region });
  const region = await requireRegion(clients, settings.region);
  const file = openRunLog({ base: { program: "portforward", env } });
  const log = teeLogger(createLogger({ format: "human", debug: flags.debug }), file.log);
  return {
    settings,
    address,
    client,
    clients,
    region,
    prompt,
    log,
    file,
    interrupts,
    user: localUser(),
    configPath: config?.path,
    socket: flags.socket,
    localPortFlag: flags["local-port"],
  };
}

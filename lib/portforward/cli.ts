// portforward's CLI, declared once: scripts/portforward.mts parses it; `bastionless tunnel` and the shell
// completion read the same flags without running the program.
import { AWS_FLAGS, SHARED_FLAGS, defineCli, type Flags } from "../cli.ts";
import { VIA_CHOICES } from "../config-schema.ts";

export const cli = defineCli({
  name: "portforward",
  summary: "Launch a throw-away bastion task in a service's network, forward local ports through it to a database or any host:port, then stop it.",
  flags: {
    ...AWS_FLAGS,
    cluster: { type: "string", description: "ECS cluster (prompt: the env's clusters)" },
    service: { type: "string", description: "service whose subnets, security groups and launch type the bastion gets" },
    "task-definition": {
      type: "string",
      placeholder: "family[:rev]",
      description: "bastion task definition (default: <env>-bastion; a service's own only when named)",
    },
    target: { type: "string", placeholder: "id|host:port", description: "RDS cluster or instance id, ElastiCache endpoint, or host:port" },
    "local-port": { type: "string", placeholder: "port", description: "local port for --target (default: its port + 10000; 0 = any free port)" },
    socket: {
      type: "string",
      placeholder: "path",
      description: "--target listens on this Unix socket (mode 0600: only you can connect) instead of a TCP port",
    },
    forward: { type: "string", multiple: true, placeholder: "L:HOST:R", description: "another tunnel through the same bastion" },
    address: {
      type: "string",
      placeholder: "ip",
      description: "where the local ports listen (default 127.0.0.1: this machine only; 0.0.0.0: every interface, reachable from the network)",
    },
    via: {
      type: "string",
      placeholder: VIA_CHOICES.join("|"),
      description: "ECS Exec target or the task's managed instance (default auto: ECS Exec when its agent runs)",
    },
    client: SHARED_FLAGS.client,
    sessions: {
      type: "string",
      env: "BASTIONLESS_SESSIONS",
      placeholder: "n",
      description: "Session Manager sessions per forward, opened as concurrent connections need them (default 4; 1 = one session, about 0.65 MB/s each way)",
    },
    reuse: { type: "boolean", description: "attach to a running bastion task you started instead of launching one" },
    keep: { type: "boolean", description: "leave the bastion task running at exit, without asking" },
    stop: { type: "boolean", description: "stop the bastion task at exit, without asking" },
    yes: { ...SHARED_FLAGS.yes, description: "no prompts: fail naming any missing flag; stop the task at exit" },
    json: { type: "boolean", description: "print one JSON line with the forwards once ready (no prompts)" },
    timeout: { type: "string", placeholder: "duration", description: "how long to wait for the bastion to be ready (default 5m)" },
  },
  details: `Examples:
  make tunnel ENV=stg                                   # prompts for what is missing
  bastionless tunnel --env stg --target stg-db          # 127.0.0.1:15432 → stg-db's endpoint:5432
  bastionless tunnel --env stg --yes --target stg-db --local-port 0 --json
  bastionless tunnel --env stg --target stg-db --forward 16379:cache.internal:6379
  bastionless tunnel --env stg --target stg-db --sessions 8            # pg_dump -j 8: one session per connection
  bastionless tunnel --env stg --target stg-db --address 0.0.0.0  # other machines may connect too (native client)
  bastionless tunnel --env stg --target stg-db --socket "$XDG_RUNTIME_DIR/.s.PGSQL.5432"  # only you can connect: psql -h "$XDG_RUNTIME_DIR"

Ctrl-C closes the tunnel and asks "Stop bastion task …?" (default yes); nothing is left running.
Session log: $XDG_STATE_HOME/bastionless/ (default ~/.local/state/bastionless/), kept 7 days.
Exit: 0 ok, 1 failure or something left behind, 2 usage, 130 Ctrl-C before the tunnel opened.`,
});

export type PortforwardFlags = Flags<typeof cli.flags>;

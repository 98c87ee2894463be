// bastionless: the one command on PATH. `bastionless tunnel|exec|cleanup|entrypoint` runs the program
// in this very process (no parent in between to relay Ctrl-C or hold PID 1), with its own flags,
// output and exit code; --help, --version, `completion bash|zsh` and `tunnel --list` are answered here.
// The package's bin is `npm run build:package`'s dist/package/bastionless.mjs: the programs sit in chunks
// loaded only when one runs, so --help and a Tab press read little. `npm run build` makes one file of it.
import { runMain } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";
import { VERSION, routeCommand, type Program } from "../lib/bastionless/commands.ts";
import { completeWords, completionScript } from "../lib/bastionless/completion.ts";
import { connectionArgv, formatConnections } from "../lib/portforward/connections.ts";

// Importing a program runs it: it parses process.argv and its runMain exits with its code.
const PROGRAMS: Record<Program, () => Promise<unknown>> = {
  portforward: () => import("./portforward.mts"),
  exec: () => import("./exec.mts"),
  "cleanup-orphans": () => import("./cleanup-orphans.mts"),
  entrypoint: () => import("./entrypoint.mts"),
};

// No top-level await here: the single-executable build turns this bundle into CommonJS.
void runMain(
  async () => {
    const route = routeCommand(process.argv.slice(2));
    switch (route.kind) {
      case "help":
        return void process.stdout.write(route.text);
      case "version":
        return void process.stdout.write(VERSION + "\n");
      case "completion":
        return void process.stdout.write(completionScript(route.shell));
      case "complete":
        return void process.stdout.write(
          completeWords(route.words, quietConfig())
            .map((c) => c + "\n")
            .join(""),
        );
      case "list":
        return void process.stdout.write(formatConnections(loadConfig()));
      case "run": {
        const connection = route.connection ? connectionArgv(route.connection, loadConfig(), route.given) : [];
        process.argv.splice(2, Infinity, ...connection, ...route.argv);
        await PROGRAMS[route.program]();
        return new Promise<never>(() => {}); // the program ends the process with its own code
      }
    }
  },
  { name: "bastionless" },
);

/** A Tab press must never print: a config that does not load completes nothing from it. */
function quietConfig() {
  try {
    return loadConfig();
  } catch {
    return undefined;
  }
}

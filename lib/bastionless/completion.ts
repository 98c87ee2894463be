// Shell completion for bash and zsh. The scripts are small and fixed: at each Tab they call
// `bastionless __complete -- <words up to the cursor>`, which answers from the programs' own flag
// declarations and from the bastionless.config.json of the directory the shell is in (envs,
// clusters, connections…), so a new flag or a new env needs no new script. (The design of cobra's
// `__complete`, spf13/cobra completions.go.)
import { COMMON, type FlagSpec } from "../cli.ts";
import type { Config } from "../config.ts";
import { connectionsOf } from "../portforward/connections.ts";
import { COMMANDS, SHELLS, type Shell } from "./commands.ts";

export function completionScript(shell: Shell): string {
  return shell === "bash" ? BASH : ZSH;
}

const BASH = `# bash completion for bastionless, from \`bastionless completion bash\`.
# Load it from ~/.bashrc with: source <(bastionless completion bash)
_bastionless() {
  local IFS=$'\\n'
  COMPREPLY=($(bastionless __complete -- "\${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null))
}
complete -o default -F _bastionless bastionless
`;

const ZSH = `#compdef bastionless
# zsh completion for bastionless, from \`bastionless completion zsh\`.
# Load it from ~/.zshrc (after compinit) with: source <(bastionless completion zsh)
# or save it as _bastionless in a directory of $fpath.
_bastionless() {
  local -a candidates
  candidates=("\${(@f)$(bastionless __complete -- "\${(@)words[1,CURRENT]}" 2>/dev/null)}")
  candidates=(\${candidates:#})
  if (( \${#candidates} )); then compadd -- "\${candidates[@]}"; else _files; fi
}
if [[ "\${funcstack[1]}" == "_bastionless" ]]; then _bastionless "$@"; else compdef _bastionless bastionless; fi
`;

/** Config keys whose values complete the flag of the same meaning. */
const FROM_CONFIG: Record<string, "profile" | "region" | "cluster" | "service" | "taskDefinition" | "target"> = {
  profile: "profile",
  region: "region",
  cluster: "cluster",
  service: "service",
  "task-definition": "taskDefinition",
  target: "target",
};

/**
 * The candidates for the last of `words` (the word being typed, maybe empty); `words[0]` is the
 * command itself. Pure: the config is the one the shell's directory would use.
 */
export function completeWords(words: string[], config: Config | undefined): string[] {
  const current = words.at(-1) ?? "";
  const done = words.slice(1, -1);
  const starting = (list: Iterable<string>) => [...new Set(list)].filter((c) => c.startsWith(current));
  if (done.length === 0) return starting([...COMMANDS.map((c) => c.name), "completion", "help", ...(current.startsWith("-") ? ["--help", "--version"] : [])]);
  const [name, ...args] = done;
  if (name === "completion" || name === "help") return args.length ? [] : starting(name === "help" ? COMMANDS.map((c) => c.name) : SHELLS);
  const command = COMMANDS.find((c) => c.name === name);
  if (!command?.spec) return [];
  const flags: FlagSpec = { ...command.spec.flags, ...COMMON };
  // --flag=value: zsh passes it as one word; bash splits it at "=" (COMP_WORDBREAKS) into --flag, =, value.
  const joined = /^--([a-z-]+)=(.*)$/.exec(current);
  if (joined && flags[joined[1]]?.type === "string") {
    return [...new Set(valuesOf(joined[1], flags[joined[1]].placeholder, config))].filter((v) => v.startsWith(joined[2])).map((v) => `--${joined[1]}=${v}`);
  }
  const previous = args.at(-1) === "=" ? args.at(-2) : args.at(-1);
  const pending = previous?.startsWith("--") ? flags[previous.slice(2)] : undefined;
  if (pending?.type === "string") return starting(valuesOf(previous!.slice(2), pending.placeholder, config));
  const positional =
    name === "tunnel" &&
    !current.startsWith("-") &&
    !args.some((a, i) => !a.startsWith("-") && !(args[i - 1]?.startsWith("--") && flags[args[i - 1].slice(2)]?.type === "string"));
  if (positional) {
    const connections = Object.keys(connectionsOf(config));
    if (connections.length || current) return starting(connections);
  }
  const given = new Set(args.filter((a) => a.startsWith("--")).map((a) => a.slice(2)));
  return starting(
    Object.entries(flags)
      .filter(([flag, def]) => def.multiple || !given.has(flag))
      .map(([flag]) => `--${flag}`),
  );
}

/** What a string flag may be: the config's envs, clusters…, or the choices its placeholder lists (auto|native|plugin). */
function valuesOf(flag: string, placeholder: string | undefined, config: Config | undefined): string[] {
  if (placeholder && /^[a-z0-9-]+(\|[a-z0-9-]+)+$/.test(placeholder)) return placeholder.split("|");
  if (!config) return [];
  const sections = [config.defaults, ...Object.values(config.envs)];
  const connections = Object.values(connectionsOf(config));
  if (flag === "env") return [...Object.keys(config.envs), ...connections.map((c) => c.env)].sort();
  const key = FROM_CONFIG[flag];
  if (!key) return [];
  const values = [...sections.map((s) => s[key]), ...(key === "profile" || key === "region" ? [] : connections.map((c) => c[key]))];
  return values.filter((v): v is string => typeof v === "string").sort();
}

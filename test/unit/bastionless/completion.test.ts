import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../lib/config.ts";
import { completeWords, completionScript } from "../../../lib/bastionless/completion.ts";

const config = parseConfig(
  {
    defaults: { region: "ap-northeast-1" },
    envs: { stg: { cluster: "stg-main", profile: "stg-admin" }, prod: { cluster: "prod-main", target: "prod-db" } },
    connections: { "stg-db": { env: "stg", target: "stg-db", localPort: 15432 }, "dev-db": { env: "dev", target: "dev-db" } },
  },
  "/repo/bastionless.config.json",
);
const complete = (line: string) => completeWords(line.split(" "), config);

describe("completeWords", () => {
  it.each([
    ["bastionless ", ["tunnel", "exec", "cleanup", "entrypoint", "completion", "help"]],
    ["bastionless c", ["cleanup", "completion"]],
    ["bastionless --v", ["--version"]],
    ["bastionless completion ", ["bash", "zsh"]],
    ["bastionless help t", ["tunnel"]],
    // The config's envs (and the envs its connections name), its clusters, its targets.
    ["bastionless tunnel --env ", ["dev", "prod", "stg"]],
    ["bastionless exec --env p", ["prod"]],
    ["bastionless cleanup --env stg --env ", ["dev", "prod", "stg"]],
    ["bastionless exec --cluster ", ["prod-main", "stg-main"]],
    ["bastionless tunnel --target ", ["dev-db", "prod-db", "stg-db"]],
    ["bastionless tunnel --profile ", ["stg-admin"]],
    // Choices come from the placeholder of the flag's declaration.
    ["bastionless tunnel --client ", ["auto", "native", "plugin"]],
    ["bastionless tunnel --via e", ["ecs-exec"]],
    // A tunnel's positional is a connection name.
    ["bastionless tunnel ", ["stg-db", "dev-db"]],
    ["bastionless tunnel --yes s", ["stg-db"]],
    ["bastionless tunnel --env stg ", ["stg-db", "dev-db"]],
    ["bastionless tunnel stg-db --lo", ["--local-port"]],
    ["bastionless tunnel --local-port ", []],
    ["bastionless cleanup --d", ["--dry-run", "--debug"]],
    // A flag given once is not offered again, unless it repeats.
    ["bastionless exec --env stg --e", []],
    ["bastionless cleanup --env stg --e", ["--env"]],
    ["bastionless entrypoint ", []],
    // --flag=value, as zsh passes it and as bash splits it.
    ["bastionless tunnel --env=s", ["--env=stg"]],
    ["bastionless tunnel --env = p", ["prod"]],
  ])("%j → %j", (line, expected) => {
    expect(complete(line)).toEqual(expected);
  });

  it("offers every flag of the program's declaration", () => {
    expect(complete("bastionless exec --")).toEqual([
      "--env",
      "--profile",
      "--region",
      "--cluster",
      "--service",
      "--task",
      "--container",
      "--command",
      "--client",
      "--check",
      "--yes",
      "--debug",
      "--help",
    ]);
  });

  it("without a config, still the flags and the declared choices", () => {
    expect(completeWords(["bastionless", "tunnel", "--env", ""], undefined)).toEqual([]);
    expect(completeWords(["bastionless", "tunnel", ""], undefined)).toEqual(expect.arrayContaining(["--env", "--target", "--list"]));
    expect(completeWords(["bastionless", "tunnel", "--client", "n"], undefined)).toEqual(["native"]);
  });
});

describe("completionScript", () => {
  it("bash and zsh ask bastionless __complete with the words up to the cursor", () => {
    expect(completionScript("bash")).toContain('COMPREPLY=($(bastionless __complete -- "${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null))');
    expect(completionScript("bash")).toContain("complete -o default -F _bastionless bastionless\n");
    expect(completionScript("zsh").split("\n")[0]).toBe("#compdef bastionless");
    expect(completionScript("zsh")).toContain('$(bastionless __complete -- "${(@)words[1,CURRENT]}" 2>/dev/null)');
  });
});

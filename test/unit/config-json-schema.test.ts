import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CONFIG_SCHEMA_FILE, configJsonSchemaText } from "../../lib/config-json-schema.ts";
import { CLIENT_CHOICES, VIA_CHOICES } from "../../lib/config-schema.ts";

const REPO = join(import.meta.dirname, "../..");
type Node = { type?: string; properties?: Record<string, Node>; additionalProperties?: boolean | Node; items?: Node; enum?: string[] };

describe("bastionless.config.schema.json", () => {
  it("is what lib/config-schema.ts generates (make schema rewrites it)", () => {
    expect(readFileSync(join(REPO, CONFIG_SCHEMA_FILE), "utf8")).toBe(configJsonSchemaText());
  });

  it("refuses an unknown key at every level, as the programs do, and offers the programs' choices", () => {
    const schema = JSON.parse(configJsonSchemaText()) as Node;
    const open: string[] = [];
    const walk = (node: Node, at: string): void => {
      if (node.type === "object" && node.properties && node.additionalProperties !== false) open.push(at);
      for (const [key, child] of Object.entries(node.properties ?? {})) walk(child, `${at}.${key}`);
      if (typeof node.additionalProperties === "object") walk(node.additionalProperties, `${at}.*`);
    };
    walk(schema, "$");
    expect(open).toEqual([]);
    const env = (schema.properties!.envs!.additionalProperties as Node).properties!;
    expect([env.via!.enum, env.client!.enum]).toEqual([[...VIA_CHOICES], [...CLIENT_CHOICES]]);
    expect(Object.keys(schema.properties!)).toEqual(["$schema", "defaults", "envs", "connections"]);
  });
});

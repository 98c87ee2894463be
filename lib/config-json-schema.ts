// The JSON Schema of bastionless.config.json that editors read, generated from lib/config-schema.ts.
// `make schema` writes it to CONFIG_SCHEMA_FILE; test/unit/config-schema.test.ts fails when the
// committed file is not what this generates. No program imports this file.
import * as z from "zod/mini";
import { configSchemas } from "./config-schema.ts";

/** Where the schema is committed, at the repository root beside the README. */
export const CONFIG_SCHEMA_FILE = "bastionless.config.schema.json";

/** The schema as the committed file holds it (draft-07, which every editor's JSON support reads). */
export function configJsonSchemaText(): string {
  return JSON.stringify(z.toJSONSchema(configSchemas().file, { target: "draft-07", io: "input" }), null, 2) + "\n";
}

import { describe, expect, it } from "vitest";
import { canPrompt, matchChoices } from "../../lib/prompts.ts";

const choices = ["stg-main", "stg-batch", "prod-main", "dev"].map((n) => ({ value: n, label: n }));
const labels = (term: string | undefined) => matchChoices(choices, term).map((c) => c.label);

describe("matchChoices", () => {
  it("finds a substring anywhere, in any case, before the fuzzy matches", () => {
    expect(labels("main")).toEqual(["stg-main", "prod-main"]);
    expect(labels("MAIN")).toEqual(["stg-main", "prod-main"]);
    expect(labels("stgmn")).toEqual(["stg-main"]);
    expect(labels("sb")).toEqual(["stg-batch"]);
    expect(labels("dv")).toEqual(["dev"]);
    expect(labels("d")).toEqual(["prod-main", "dev"]);
  });

  it("offers everything, in the caller's order, for no term, and nothing for no match", () => {
    expect(labels(undefined)).toEqual(["stg-main", "stg-batch", "prod-main", "dev"]);
    expect(labels("  ")).toEqual(["stg-main", "stg-batch", "prod-main", "dev"]);
    expect(labels("xyz")).toEqual([]);
  });
});

describe("canPrompt", () => {
  it("asks when stdin and stderr are terminals, whatever stdout is (make tunnel | tee)", () => {
    expect(canPrompt(false, { stdin: { isTTY: true }, stderr: { isTTY: true } })).toBe(true);
    expect(canPrompt(true, { stdin: { isTTY: true }, stderr: { isTTY: true } })).toBe(false);
    expect(canPrompt(false, { stdin: {}, stderr: { isTTY: true } })).toBe(false);
    expect(canPrompt(false, { stdin: { isTTY: true }, stderr: {} })).toBe(false);
  });
});

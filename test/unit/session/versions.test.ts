import { describe, expect, it } from "vitest";
import { compareVersions } from "../../../lib/session/versions.ts";

describe("plugin version", () => {
  it("compares numerically, component by component", () => {
    expect(compareVersions("1.2.10.0", "1.2.9.0")).toBe(1);
    expect(compareVersions("1.2.764.0", "1.2.764.0")).toBe(0);
    expect(compareVersions("1.2.0.0", "1.2.764.0")).toBe(-1);
  });
});

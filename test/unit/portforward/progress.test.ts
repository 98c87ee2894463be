import { describe, expect, it } from "vitest";
import { createProgress } from "../../../lib/portforward/progress.ts";

describe("progress", () => {
  it("prints one plain line per status change without a terminal", () => {
    let out = "";
    const p = createProgress("Bastion task t1", { isTTY: false, write: (s: string) => (out += s) });
    p.update("PROVISIONING", 0);
    p.update("PROVISIONING", 500);
    p.update("PENDING", 2100);
    p.done("ready");
    expect(out).toBe("Bastion task t1: PROVISIONING (0.0s)\nBastion task t1: PENDING (2.1s)\nready\n");
  });

  it("repaints one spinner line on a terminal and clears it", () => {
    let out = "";
    const p = createProgress("Bastion task t1", { isTTY: true, columns: 80, write: (s: string) => (out += s) });
    p.update("PENDING", 1000);
    p.done("ready");
    // eslint-disable-next-line no-control-regex -- the spinner redraws its line with ESC [2K
    expect(out).toMatch(/^\r\x1b\[2K⠋ Bastion task t1: PENDING \(1\.0s\)\r\x1b\[2Kready\n$/);
  });
});

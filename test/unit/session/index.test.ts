// Which client each choice resolves to, with AWS's plugin stood in for by test/fixtures' fake at a
// given --version: shells take an installed plugin on auto, tunnels never do (and say why).
import { afterEach, describe, expect, it } from "vitest";
import { join, resolve } from "node:path";
import { PLUGIN_TUNNEL_NOTE, resolveClient, resolveTunnelClient } from "../../../lib/session/index.ts";

const FAKE = join(resolve(import.meta.dirname, "../../fixtures"), "session-manager-plugin");
const MISSING = "/nonexistent/session-manager-plugin";
const saved = process.env.FAKE_PLUGIN_VERSION;
afterEach(() => {
  if (saved === undefined) delete process.env.FAKE_PLUGIN_VERSION;
  else process.env.FAKE_PLUGIN_VERSION = saved;
});

describe("resolveClient (shells)", () => {
  it.each([
    ["auto, plugin 1.2.764.0", "auto", FAKE, "1.2.764.0", "plugin"],
    ["auto, plugin too old", "auto", FAKE, "1.2.707.0", "native"],
    ["auto, no plugin", "auto", MISSING, "1.2.764.0", "native"],
    ["native, plugin installed", "native", FAKE, "1.2.764.0", "native"],
    ["plugin, none installed (refused later, by the version check)", "plugin", MISSING, "1.2.764.0", "plugin"],
  ] as const)("%s", async (_name, choice, path, version, client) => {
    process.env.FAKE_PLUGIN_VERSION = version;
    expect(await resolveClient(choice, path)).toBe(client);
  });
});

describe("resolveTunnelClient", () => {
  it.each([
    ["auto, plugin 1.2.764.0: native, and the reason", "auto", FAKE, "1.2.764.0", { client: "native", note: PLUGIN_TUNNEL_NOTE }],
    ["auto, plugin too old: native, nothing to explain", "auto", FAKE, "1.2.707.0", { client: "native" }],
    ["auto, no plugin: native, nothing to explain", "auto", MISSING, "1.2.764.0", { client: "native" }],
    ["plugin asked for: plugin", "plugin", FAKE, "1.2.764.0", { client: "plugin" }],
    ["native asked for: native", "native", FAKE, "1.2.764.0", { client: "native" }],
  ] as const)("%s", async (_name, choice, path, version, expected) => {
    process.env.FAKE_PLUGIN_VERSION = version;
    expect(await resolveTunnelClient(choice, path)).toEqual(expected);
  });

  it("says what happens, why, and how to choose the plugin anyway", () => {
    expect(PLUGIN_TUNNEL_NOTE).toBe(
      "Tunnel through the built-in Session Manager client, not session-manager-plugin: the plugin's tunnels stop carrying data for good when a send meets one of AWS's hourly WebSocket recycles, while the plugin keeps running. Pass --client plugin to use it anyway.",
    );
  });
});

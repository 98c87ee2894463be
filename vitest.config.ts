import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    // The secret scan: every child's output and our programs' log files are captured, and searched
    // at the end for every secret the local cloud issued (test/support/secret-scan.ts).
    globalSetup: ["test/support/secret-scan-setup.ts"],
    setupFiles: ["test/support/capture.ts"],
  },
});

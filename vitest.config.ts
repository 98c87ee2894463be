import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    // Two test files at a time, also on two cores (vitest's default there is one): most of a file's
    // time is spent waiting on real processes, timers and sockets, not on the CPU. Every file has its
    // own local cloud, ports, temporary directories and tmux sockets; what is machine-wide (test
    // users, the checkout's mode) is shared under a lock (test/support/unix-users.ts).
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    // The secret scan: every child's output and our programs' log files are captured, and searched
    // at the end for every secret the local cloud issued (test/support/secret-scan.ts).
    globalSetup: ["test/support/secret-scan-setup.ts"],
    setupFiles: ["test/support/capture.ts"],
  },
});

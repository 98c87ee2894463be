// The tiny app: one line saying who it runs as and when it started, then it waits for SIGTERM.
const started = { event: "app_up", uid: process.getuid(), gid: process.getgid(), home: process.env.HOME, at: Date.now() };
process.stdout.write(JSON.stringify(started) + "\n");
const timer = setInterval(() => {}, 1 << 30);
process.on("SIGTERM", () => {
  clearInterval(timer);
  process.stdout.write(JSON.stringify({ event: "app_stopped", signal: "SIGTERM" }) + "\n");
});

// The local terminal during a native shell: raw mode (Ctrl-C, Ctrl-Z and Ctrl-\ arrive as bytes
// and go to the remote side), its size, and a restore that runs on every exit path.
export interface Terminal {
  size(): { cols: number; rows: number };
  onResize(listener: () => void): void;
  /** Idempotent; also runs on process exit. */
  restore(): void;
}

export function takeTerminal(stdin: NodeJS.ReadStream, stdout: NodeJS.WriteStream): Terminal {
  const raw = Boolean(stdin.isTTY && typeof stdin.setRawMode === "function");
  const wasRaw = raw ? stdin.isRaw : false;
  if (raw) stdin.setRawMode(true);
  const listeners: Array<() => void> = [];
  const onResize = () => listeners.forEach((l) => l());
  stdout.on("resize", onResize);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    stdout.off("resize", onResize);
    process.off("exit", restore);
    if (raw) stdin.setRawMode(wasRaw);
    stdin.pause();
  };
  process.on("exit", restore);
  return {
    // Not a terminal: the plugin reports 300×100.
    size: () => (stdout.isTTY ? { cols: stdout.columns, rows: stdout.rows } : { cols: 300, rows: 100 }),
    onResize: (l) => void listeners.push(l),
    restore,
  };
}

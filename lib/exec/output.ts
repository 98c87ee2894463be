// exec's stdout when it is not a terminal (`exec --command … | jq`, `> file`): only the remote
// command's output, with \n line endings. ECS Exec runs every command under a pty, so its output
// comes with \r\n; the banner line the wrapped command prints first (command.ts wrapCommand) and the
// session's own notes ("Exiting session with sessionId …") are ours, and go to stderr.
import { Writable } from "node:stream";

// What the session client writes itself, each in one piece: the end of the session, a lost
// connection, a failed handshake (lib/session/shell.ts).
const SESSION_NOTE =
  /^(?:\r\n)+((?:Exiting session with sessionId: \S+\.|SessionId: \S+ : [\s\S]*|The connection to session \S+ was lost: [\s\S]*|The session handshake failed: [\s\S]*))(?:\r\n)+$/;

export interface PlainOutputOptions {
  /** Where the remote output goes. */
  out: NodeJS.WritableStream;
  /** Where our own lines go (stderr), one line each, without its line ending. */
  note: (line: string) => void;
  /** The banner line the remote side prints first, when the command was wrapped. */
  banner?: string;
}

/** A stream to give the session as its stdout; see the header. */
export function plainOutput(options: PlainOutputOptions): Writable {
  let pendingCr = false;
  let firstLine: string | undefined = options.banner === undefined ? undefined : "";
  // A reader that went away (EPIPE: `| head -1` done) never drains: its error or close ends the
  // wait, and what is left is dropped, so the exit code and the audit's end are not held up by it.
  const out = options.out as NodeJS.WritableStream & { destroyed?: boolean };
  const forward = (text: string, done: () => void) => {
    if (!text || out.destroyed) return done();
    if (out.write(text)) return done();
    const finish = () => {
      out.off("drain", finish).off("error", finish).off("close", finish);
      done();
    };
    out.once("drain", finish).once("error", finish).once("close", finish);
  };
  return new Writable({
    decodeStrings: false,
    write(chunk: Buffer | string, _encoding, done) {
      let text = String(chunk);
      const note = SESSION_NOTE.exec(text);
      if (note) {
        options.note(note[1].replace(/\r\n/g, "\n").trim());
        return done();
      }
      if (pendingCr) text = "\r" + text;
      pendingCr = text.endsWith("\r");
      if (pendingCr) text = text.slice(0, -1);
      text = text.replace(/\r\n/g, "\n");
      if (firstLine !== undefined) {
        // Held until the first line is whole: the banner goes to stderr, anything else through.
        firstLine += text;
        const end = firstLine.indexOf("\n");
        const banner = options.banner!;
        if (end < 0 && banner.startsWith(firstLine)) return done();
        const line = end < 0 ? firstLine : firstLine.slice(0, end);
        const rest = firstLine;
        firstLine = undefined;
        if (line === banner) {
          options.note(line);
          return forward(rest.slice(end + 1), done);
        }
        return forward(rest, done);
      }
      forward(text, done);
    },
    final(done) {
      forward((firstLine ?? "") + (pendingCr ? "\r" : ""), done);
    },
  });
}

/** Ends `stream` and waits for what it holds to go out, for `timeoutMs` at most. */
export function endOutput(stream: NodeJS.WritableStream, timeoutMs = 5_000): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    stream.end(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

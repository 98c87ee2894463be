// This machine's side of every program: where our state lives and who the local user is.
import { homedir, userInfo } from "node:os";
import { join } from "node:path";

/** XDG Base Directory: `$XDG_STATE_HOME/bastionless` when that is absolute, else `~/.local/state/bastionless`. */
export function stateDir(env: NodeJS.ProcessEnv = process.env, home: string = env.HOME || homedir()): string {
  const xdg = env.XDG_STATE_HOME;
  return join(xdg && xdg.startsWith("/") ? xdg : join(home, ".local", "state"), "bastionless");
}

/** The local user: $USER, $LOGNAME, $USERNAME (as the shell and getpass see it), else the OS account, else "unknown". */
export function localUser(env: NodeJS.ProcessEnv = process.env, account: () => string = () => userInfo().username): string {
  const named = env.USER || env.LOGNAME || env.USERNAME;
  if (named) return named;
  try {
    return account() || "unknown";
  } catch {
    return "unknown"; // no passwd entry for this uid, as in a container running an arbitrary uid
  }
}

// Who the app (the CMD) runs as. The entrypoint is root when the container runs the agent (it must
// register and start sessions), but the app keeps the user its image declared: as root, beside the
// agent, it would read the agent's files and take the instance role before its own task role in the
// SDK's chain. The spec comes from BASTION_APP_USER, else the file the image build wrote with the
// app image's user (docker/app/Dockerfile.example), and follows Docker's USER: name, uid, name:group,
// uid:gid; a uid without a passwd entry gets gid 0, as Docker gives it.
import { readFileSync } from "node:fs";
import { UsageError } from "../errors.ts";

export interface AppIdentity {
  uid: number;
  gid: number;
  /** The user's home from /etc/passwd ("/" without an entry): HOME must not stay root's. */
  home: string;
  name?: string;
}

export type AppUserPlan = { switch: AppIdentity } | { keep: string };

const SPEC = /^([a-z_][a-z0-9_.-]*\$?|\d+)(?::([a-z_][a-z0-9_.-]*\$?|\d+))?$/i;

/** Docker's USER syntax; undefined when malformed. */
export function parseUserSpec(spec: string): { user: string; group?: string } | undefined {
  const m = SPEC.exec(spec.trim());
  if (!m) return undefined;
  return { user: m[1], ...(m[2] !== undefined ? { group: m[2] } : {}) };
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswd(text: string): PasswdEntry[] {
  return text.split("\n").flatMap((line) => {
    const f = line.split(":");
    if (f.length < 7 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) return [];
    return [{ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || "/" }];
  });
}

function parseGroups(text: string): Array<{ name: string; gid: number }> {
  return text.split("\n").flatMap((line) => {
    const f = line.split(":");
    if (f.length < 3 || !/^\d+$/.test(f[2])) return [];
    return [{ name: f[0], gid: Number(f[2]) }];
  });
}

/** The uid, gid and home of `spec` in these passwd and group files; throws naming what is missing. */
export function resolveAppUser(spec: string, passwd: string, group: string): AppIdentity {
  const parsed = parseUserSpec(spec);
  if (!parsed) throw new Error(`"${spec}" is not a user: use name, uid, name:group or uid:gid`);
  const users = parsePasswd(passwd);
  const numeric = /^\d+$/.test(parsed.user);
  const entry = numeric ? users.find((u) => u.uid === Number(parsed.user)) : users.find((u) => u.name === parsed.user);
  if (!entry && !numeric) throw new Error(`user "${parsed.user}" is not in /etc/passwd`);
  let gid = entry?.gid ?? 0;
  if (parsed.group !== undefined) {
    if (/^\d+$/.test(parsed.group)) gid = Number(parsed.group);
    else {
      const found = parseGroups(group).find((g) => g.name === parsed.group);
      if (!found) throw new Error(`group "${parsed.group}" is not in /etc/group`);
      gid = found.gid;
    }
  }
  return { uid: entry?.uid ?? Number(parsed.user), gid, home: entry?.home ?? "/", ...(entry ? { name: entry.name } : {}) };
}

/**
 * Whether to start the app as another user: only a root entrypoint can, and only a non-root target
 * needs it. `resolve` is called only when a switch is possible.
 */
export function planAppUser(spec: string | undefined, ownUid: number, resolve: (spec: string) => AppIdentity): AppUserPlan {
  if (spec === undefined) return { keep: "no app user is set (BASTION_APP_USER or the image's record)" };
  if (ownUid !== 0) return { keep: `the entrypoint runs as uid ${ownUid}, not root: the app runs as that uid` };
  const identity = resolve(spec);
  if (identity.uid === 0) return { keep: "the app user is root" };
  return { switch: identity };
}

/** BASTION_APP_USER, else the app image's user as its build recorded it in `file`, else undefined. */
export function findAppUserSpec(envValue: string | undefined, file: string): string | undefined {
  if (envValue !== undefined) return envValue;
  try {
    return readFileSync(file, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** planAppUser over this machine's /etc/passwd and /etc/group; an unknown user is a UsageError. */
export function planAppUserHere(spec: string | undefined): AppUserPlan {
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  };
  try {
    return planAppUser(spec, process.getuid?.() ?? -1, (s) => resolveAppUser(s, read("/etc/passwd"), read("/etc/group")));
  } catch (error) {
    throw new UsageError(
      `The app user ${spec} (BASTION_APP_USER, else the image's /etc/bastionless/app-user) cannot be used: ${(error as Error).message}; no CMD was started.`,
      { cause: error },
    );
  }
}

/** The app's environment as that user: HOME (and USER/LOGNAME when named) are its own, not root's. */
export function appEnv(env: NodeJS.ProcessEnv, identity: AppIdentity): NodeJS.ProcessEnv {
  return { ...env, HOME: identity.home, ...(identity.name ? { USER: identity.name, LOGNAME: identity.name } : {}) };
}

// A pool of Session Manager sessions behind one forward. One session carries about 0.65 MB/s each
// way (the agent sends 1 KiB per millisecond, MGS allows ≈1000 messages a second), so a forward
// whose clients open several connections (pg_dump -j, a connection pool, a GUI) spreads them over
// up to `max` sessions, each its own StartSession, WebSocket and smux:
// - a new connection goes to the session with the fewest connections (ties: the fewest messages
//   in flight); when every session already carries one and there is room, a new session opens and
//   the connection waits for it (it is there for that connection, and a long transfer gains most);
// - a session that ends (idle timeout, TerminateSession, a resume that failed) takes only its own
//   connections with it; new connections go to the others, and sessions open again as needed;
// - an extra session without connections for `idleMs` closes; the last one stays.
import type { Socket } from "node:net";
import type { Logger } from "../log.ts";

/** What the pool needs of a session (lib/session/port.ts's PortSession). */
export interface PooledSession {
  readonly sessionId: string;
  readonly tunnel: { accept(socket: Socket): void };
  readonly channel: { readonly unacknowledged: number };
  readonly ended: Promise<string>;
  /** Resolves false when the session's end could not be confirmed. */
  stop(): Promise<boolean>;
}

export interface SessionPoolOptions<S extends PooledSession> {
  /** Sessions at most; 1 = one session, replaced for the next connection when it ends. */
  max: number;
  open: () => Promise<S>;
  /** How long an extra session may carry no connection before it closes; default 5 min. */
  idleMs?: number;
  /** The forward's local port, for messages. */
  port: number;
  log?: Logger;
}

export interface SessionPool<S extends PooledSession = PooledSession> {
  readonly max: number;
  /** Sessions open now (not counting those still opening). */
  readonly size: number;
  /** Opens the first session; rejects when it cannot start. */
  start(): Promise<S>;
  /** Carries one accepted local connection. */
  accept(socket: Socket): void;
  /** The session a new connection would go to now, without opening one; undefined when there is none. */
  current(): Promise<S> | undefined;
  /** The open sessions. */
  sessions(): S[];
  /** Resolves when a session is needed and none can be opened while none is left; never on stop(). */
  readonly ended: Promise<string>;
  /** Ends every session (each its own TerminateSession) and drops their connections. */
  stop(): Promise<void>;
}

export const DEFAULT_SESSION_IDLE_MS = 5 * 60_000;
/** After an extra session failed to open, the pool does not try to grow again for this long. */
const GROW_BACKOFF_MS = 10_000;

export interface SessionLoad {
  connections: number;
  /** Messages sent and not yet acknowledged. */
  inFlight: number;
  /** False while the session is still opening. */
  open: boolean;
}

/**
 * Where a new connection goes: the index of the least-loaded session (fewest connections, then an
 * open one before one still opening, then fewest messages in flight), or "open" when that session
 * already carries a connection and the pool has room for `max`.
 */
export function pickSession(loads: SessionLoad[], max: number): number | "open" {
  let best = -1;
  for (const [i, load] of loads.entries()) {
    if (best < 0 || compareLoad(load, loads[best]) < 0) best = i;
  }
  if (best < 0) return "open";
  if (loads[best].connections > 0 && loads.length < max) return "open";
  return best;
}

function compareLoad(a: SessionLoad, b: SessionLoad): number {
  return a.connections - b.connections || Number(b.open) - Number(a.open) || a.inFlight - b.inFlight;
}

interface Member<S> {
  session?: S;
  opening?: Promise<S>;
  /** Connections given to it, those waiting for it to open included. */
  connections: number;
  idleTimer?: NodeJS.Timeout;
}

export function createSessionPool<S extends PooledSession>(options: SessionPoolOptions<S>): SessionPool<S> {
  return new Pool(options);
}

const loadOf = <S extends PooledSession>(m: Member<S>): SessionLoad => ({
  connections: m.connections,
  inFlight: m.session?.channel.unacknowledged ?? 0,
  open: m.session !== undefined,
});

class Pool<S extends PooledSession> implements SessionPool<S> {
  readonly max: number;
  readonly ended: Promise<string>;
  private readonly port: number;
  private readonly log: Logger | undefined;
  private readonly idleMs: number;
  private readonly members: Member<S>[] = [];
  private stopping = false;
  private growBlockedUntil = 0;
  private reportEnded!: (reason: string) => void;

  constructor(private readonly options: SessionPoolOptions<S>) {
    this.max = options.max;
    this.port = options.port;
    this.log = options.log;
    this.idleMs = options.idleMs ?? DEFAULT_SESSION_IDLE_MS;
    this.ended = new Promise<string>((resolve) => (this.reportEnded = resolve));
  }

  get size(): number {
    return this.openCount();
  }

  start = (): Promise<S> => this.open("first").opening!;

  accept = (socket: Socket): void => {
    if (this.stopping) return void socket.destroy();
    const { members } = this;
    const room = Date.now() < this.growBlockedUntil && members.length > 0 ? members.length : this.max;
    const pick = pickSession(members.map(loadOf), room);
    this.assign(pick === "open" ? this.open(members.length === 0 ? "renewal" : "more") : members[pick], socket);
  };

  current = (): Promise<S> | undefined => {
    const pick = pickSession(this.members.map(loadOf), 0);
    if (pick === "open") return undefined;
    const member = this.members[pick];
    return member.session ? Promise.resolve(member.session) : member.opening;
  };

  sessions = (): S[] => this.members.flatMap((m) => (m.session ? [m.session] : []));

  stop = async (): Promise<void> => {
    if (this.stopping) return;
    this.stopping = true;
    const all = this.members.splice(0);
    for (const m of all) clearTimeout(m.idleTimer);
    await Promise.all(
      all.map(async (m) => {
        const session = m.session ?? (await m.opening?.catch(() => undefined));
        if (session && !(await session.stop())) {
          this.log?.warn(
            `Session ${session.sessionId} for port ${this.port} may still be open (its end was not confirmed): aws ssm terminate-session --session-id ${session.sessionId}`,
          );
        }
      }),
    );
  };

  private openCount(): number {
    return this.members.filter((m) => m.session).length;
  }

  private open(kind: "first" | "more" | "renewal"): Member<S> {
    const member: Member<S> = { connections: 0 };
    this.members.push(member);
    member.opening = this.options.open().then(
      (session) => this.opened(member, session, kind),
      (error: Error) => this.failedToOpen(member, error, kind),
    );
    member.opening.catch(() => {});
    return member;
  }

  private opened(member: Member<S>, session: S, kind: "first" | "more" | "renewal"): S {
    const { port, max, log } = this;
    member.session = session;
    member.opening = undefined;
    if (this.stopping) {
      void session.stop();
      throw new Error("the forward is stopping");
    }
    if (kind === "renewal") log?.info(`Opened session ${session.sessionId} for port ${port}.`);
    log?.event("session_opened", {
      message: `Opened session ${session.sessionId} for port ${port} (${this.openCount()} open, up to ${max}).`,
      level: "debug",
      port,
      sessionId: session.sessionId,
      open: this.openCount(),
      max,
    });
    void session.ended.then((reason) => this.drop(member, reason));
    this.armIdle(member);
    return session;
  }

  private failedToOpen(member: Member<S>, error: Error, kind: "first" | "more" | "renewal"): never {
    this.remove(member);
    if (this.stopping || kind === "first") throw error;
    if (this.members.length > 0) {
      // The others carry its connections: a pool that cannot grow still forwards.
      this.growBlockedUntil = Date.now() + GROW_BACKOFF_MS;
      this.log?.warn(`Could not open another session for port ${this.port} (${error.message}); connections share the ${this.members.length} open.`);
    } else {
      this.log?.error(`Could not open a new session for port ${this.port}: ${error.message}`);
      this.reportEnded(error.message);
    }
    throw error;
  }

  private remove(member: Member<S>): boolean {
    clearTimeout(member.idleTimer);
    const i = this.members.indexOf(member);
    if (i < 0) return false;
    this.members.splice(i, 1);
    return true;
  }

  private drop(member: Member<S>, reason: string): void {
    if (!this.remove(member) || this.stopping) return;
    const { port, max } = this;
    const id = member.session!.sessionId;
    const left = this.members.length;
    const others = `new connections go to the other ${left} session${left === 1 ? "" : "s"}, and another opens when they are busy`;
    const message = `Session ${id} for port ${port} ended (${reason}); ${left === 0 ? "the next connection opens a new session" : others}.`;
    this.log?.event("session_closed", { message, level: "warn", port, sessionId: id, reason, open: this.openCount(), max });
  }

  /** An extra session without connections closes after idleMs; the last one stays. */
  private armIdle(member: Member<S>): void {
    clearTimeout(member.idleTimer);
    if (this.max <= 1 || member.connections > 0 || !member.session || !this.members.includes(member)) return;
    member.idleTimer = setTimeout(() => {
      if (this.stopping || member.connections > 0 || this.openCount() <= 1 || !this.remove(member)) return;
      const session = member.session!;
      this.log?.event("session_idle", {
        message: `Closed idle session ${session.sessionId} for port ${this.port} (${this.openCount()} left).`,
        level: "debug",
        port: this.port,
        sessionId: session.sessionId,
        open: this.openCount(),
        max: this.max,
      });
      void session.stop();
    }, this.idleMs);
    member.idleTimer.unref();
  }

  private assign(member: Member<S>, socket: Socket): void {
    member.connections++;
    clearTimeout(member.idleTimer);
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      member.connections--;
      this.armIdle(member);
    };
    socket.once("close", release);
    if (member.session) return member.session.tunnel.accept(socket);
    member.opening!.then(
      (session) => (socket.destroyed ? undefined : session.tunnel.accept(socket)),
      () => {
        release();
        if (!this.stopping && !socket.destroyed && this.members.length > 0) return this.accept(socket);
        socket.destroy();
      },
    );
  }
}

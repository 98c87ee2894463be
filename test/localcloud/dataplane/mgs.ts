// MGS's per-session message limit (Cyberax/gimlet README "Rate limiting"; alexbacchin/ssm-session-client,
// which throttles its own sender for it): about 1000 stream-data messages a second per session and
// direction; a sender that stays above it for about 2 s gets pause_publication, and its WebSocket is
// closed soon after. Modelled as a token bucket that holds one second of messages, and an "excess
// episode" that starts at the first message the bucket cannot pay for and ends after a second
// without such a message.
export const MGS_MESSAGES_PER_SECOND = 1000;
/** How long a sender may stay over the limit before it is cut. */
export const MGS_SUSTAINED_EXCESS_MS = 2000;
/** A second without excess ends an episode (a burst now and then is forgiven). */
const EXCESS_FORGIVEN_AFTER_MS = 1000;

export class MessageRateLimit {
  private tokens: number;
  private refilledAt: number;
  private excessSince: number | undefined;
  private lastExcessAt = 0;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = perSecond;
    this.refilledAt = now();
  }

  /** Counts one message; true once its sender has been over the limit for MGS_SUSTAINED_EXCESS_MS. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.refilledAt) * this.perSecond) / 1000);
    this.refilledAt = t;
    if (this.excessSince !== undefined && t - this.lastExcessAt > EXCESS_FORGIVEN_AFTER_MS) this.excessSince = undefined;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return false;
    }
    this.excessSince ??= t;
    this.lastExcessAt = t;
    return t - this.excessSince >= MGS_SUSTAINED_EXCESS_MS;
  }
}

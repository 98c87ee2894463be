// Durations as users type them (--stale-after 30m, --timeout 90s) and as reports print them.

/** 90_000 → "1m30s", 45 * 60_000 → "45m", 13 * 3_600_000 → "13h". */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86400), "d"],
    [Math.floor((s % 86400) / 3600), "h"],
    [Math.floor((s % 3600) / 60), "m"],
    [s % 60, "s"],
  ];
  const shown = parts.filter(([n]) => n > 0).slice(0, 2);
  return shown.length ? shown.map(([n, u]) => `${n}${u}`).join("") : `${ms}ms`;
}

const DURATION_TEXT = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/;
/** What parseDuration accepts without a `bareUnit`: a number and its unit (the config file's durations; also its JSON Schema's pattern). */
export const DURATION_WITH_UNIT = /^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*$/;

/**
 * "30m" → 1_800_000; accepts ms, s, m, h, d and fractions ("1.5h"). A bare number is refused
 * unless `bareUnit` says what it means (env vars like BASTION_SHUTDOWN_TIMEOUT=8 mean seconds).
 */
export function parseDuration(text: string, options: { bareUnit?: Unit } = {}): number | undefined {
  const match = DURATION_TEXT.exec(text);
  const unit = (match?.[2] as Unit | undefined) ?? options.bareUnit;
  if (!match || !unit) return undefined;
  return Math.round(Number(match[1]) * UNITS[unit]);
}

type Unit = "ms" | "s" | "m" | "h" | "d";
const UNITS: Record<Unit, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

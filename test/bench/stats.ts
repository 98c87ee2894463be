// What every benchmark reports: the runs of a figure, their median and spread, the baseline
// measured in the same run, their ratio, and whether the stated target is met.

export interface Series {
  label: string;
  runs: number[];
  median: number;
  /** Smallest and largest run. */
  min: number;
  max: number;
}

export interface Figure {
  id: string;
  title: string;
  unit: string;
  /** Which way is better, for the ratio's reading. */
  better: "lower" | "higher";
  measured: Series;
  baselines: Series[];
  /** measured.median / baselines[0].median */
  ratio?: number;
  target?: { text: string; met: boolean };
  notes?: string[];
}

export function series(label: string, runs: number[]): Series {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { label, runs, median, min: sorted[0], max: sorted[sorted.length - 1] };
}

export function figure(f: Omit<Figure, "ratio">): Figure {
  const base = f.baselines[0];
  return { ...f, ratio: base && base.median !== 0 ? f.measured.median / base.median : undefined };
}

/** Runs `once` n times in a row and returns the numbers it measured. */
export async function repeat(n: number, once: (i: number) => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await once(i));
  return out;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

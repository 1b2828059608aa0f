// Pure figures for the Kubernetes lab benchmark: percentiles and the floors of issue 9.
export const READY_FLOOR_MS = 30_000;
export const POD_START_RATIO_FLOOR = 1.1;

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export interface PodStartSummary {
  samples: number;
  p50Ms: number;
  p90Ms: number;
  maxMs: number;
}

export function summarize(xs: number[]): PodStartSummary {
  return { samples: xs.length, p50Ms: percentile(xs, 50), p90Ms: percentile(xs, 90), maxMs: xs.length ? Math.max(...xs) : NaN };
}

export function podStartRatio(twill: PodStartSummary, bridge: PodStartSummary): number {
  return Math.round((twill.p50Ms / bridge.p50Ms) * 1000) / 1000;
}

// Convergence figures: latency samples → p50/p99/max, and the JSON the benchmark prints. Pure.

export interface Percentiles {
  n: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles in milliseconds, rounded to 0.1 ms. An empty list gives NaN. */
export function percentiles(xs: readonly number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? Number.NaN;
  const r = (x: number) => Math.round(x * 10) / 10;
  return { n: s.length, min: r(s[0] ?? Number.NaN), p50: r(rank(0.5)), p99: r(rank(0.99)), max: r(s[s.length - 1] ?? Number.NaN) };
}

/** One peer's view of one join or leave. */
export interface PeerSample {
  round: number;
  peer: string;
  /** Milliseconds; undefined when the route never changed within the timeout. */
  ms: number | undefined;
}

export interface PhaseReport {
  /** Over every (peer, round) sample that arrived. */
  latencyMs: Percentiles;
  /** (peer, round) pairs whose route never arrived (join) or never left (leave) in time. */
  missing: number;
}

export function phase(samples: readonly PeerSample[]): PhaseReport {
  const got = samples.flatMap((s) => (s.ms === undefined ? [] : [s.ms]));
  return { latencyMs: percentiles(got), missing: samples.length - got.length };
}

/** The join floor: p99 ≤ 1 s over every (peer, join) sample, and none missing. */
export const JOIN_P99_FLOOR_MS = 1000;

export function meetsJoinFloor(p: PhaseReport): boolean {
  return p.missing === 0 && p.latencyMs.n > 0 && p.latencyMs.p99 <= JOIN_P99_FLOOR_MS;
}

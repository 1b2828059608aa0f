// `lab bench` results: samples → per-mode summary (medians, spread, ratio) → JSON or a table.
// Pure (no clock, no I/O), so the summary and the table are golden-tested without root.
import type { BackendName } from '../model/types.js';

/** The throughput floor: the median per-repeat twill/kernel ratio must reach it. */
export const BENCH_FLOOR = 0.97;

export type PathName = 'twill' | 'kernel' | 'underlay';
export const PATHS: readonly PathName[] = ['twill', 'kernel', 'underlay'];

/**
 * The runs of one repeat, in order: every mode's twill, kernel, underlay; reversed on every second
 * repeat (A B C, C B A, …). Interleaving spreads background load over every path; reversing also
 * cancels slow drift and any effect of a run's position in the round, which a fixed order would
 * charge to one path every time. twill and kernel of a mode stay adjacent either way.
 */
export function roundOrder<M>(modes: readonly M[], repeat: number): [M, PathName][] {
  const round = modes.flatMap((m) => PATHS.map((p): [M, PathName] => [m, p]));
  return repeat % 2 === 1 ? round : round.reverse();
}

/** One iperf3 run. */
export interface Sample {
  gbps: number;
  retransmits: number;
  /** Gigabits moved per CPU-second iperf3's client and server used (the path's cost per byte). */
  gbitPerCpuSecond?: number;
  /** Share of the run's wall time during which some task waited for a CPU (PSI), if known. */
  cpuPressure?: number;
}

export interface Spread {
  min: number;
  max: number;
  /** (max − min) / median: how far apart the repeats are, relative to the median. */
  relative: number;
}

export interface ModeResult {
  mode: BackendName;
  twillGbps: number;
  kernelGbps: number;
  underlayGbps: number;
  /**
   * Median over the repeats of twill/kernel, each pair measured back to back: the figure the floor
   * is judged on. Pairing cancels most of a shared machine's load swings, which the ratio of the
   * two medians (ratioOfMedians) does not.
   */
  ratio: number;
  /** twillGbps / kernelGbps. */
  ratioOfMedians: number;
  floor: number;
  meetsFloor: boolean;
  repeats: number;
  durationSeconds: number;
  /** Gbit/s of every run, one per repeat (samples.twill[i] and samples.kernel[i] ran back to back). */
  samples: Record<PathName, number[]>;
  spread: Record<PathName, Spread>;
  retransmits: Record<PathName, number[]>;
  /**
   * Median share of time some task on the machine waited for a CPU during the runs
   * (/proc/pressure/cpu); near 0 on an idle machine. High values mean the figures are noisy.
   */
  cpuPressure: number | null;
  /**
   * Gbit moved per CPU-second of iperf3's client and server (their rusage; the kernel charges
   * most softirq work to them). Less sensitive to CPU contention than Gbit/s, though not immune.
   */
  gbitPerCpuSecond: Record<PathName, number[]>;
  /** Median gbitPerCpuSecond twill / kernel: below 1, Twill's path costs more CPU per byte. */
  cpuRatio: number | null;
  /** twill/kernel per repeat (the two runs of a repeat are adjacent in time). */
  pairedRatios: number[];
  /** Differences between the Twill path and the hand path's devices (empty when they match). */
  parity: string[];
  /** nftables tables in the source node's namespace on each path (what packets also pass through). */
  nftables: { twill: string[]; kernel: string[] };
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function spread(xs: readonly number[]): Spread {
  const min = Math.min(...xs);
  const max = Math.max(...xs);
  const med = median(xs);
  return { min: round(min), max: round(max), relative: med > 0 ? round((max - min) / med) : 0 };
}

export function summarize(
  mode: BackendName,
  runs: Record<PathName, Sample[]>,
  o: { durationSeconds: number; parity: string[]; nftables: ModeResult['nftables']; floor?: number },
): ModeResult {
  const floor = o.floor ?? BENCH_FLOOR;
  const gbps = (p: PathName) => runs[p].map((s) => round(s.gbps));
  const samples = { twill: gbps('twill'), kernel: gbps('kernel'), underlay: gbps('underlay') };
  const twill = median(samples.twill);
  const kernel = median(samples.kernel);
  const paired = samples.twill.map((t, i) => (samples.kernel[i] ? t / samples.kernel[i] : 0));
  const ratio = median(paired);
  const eff = (p: PathName) => runs[p].flatMap((x) => (x.gbitPerCpuSecond === undefined ? [] : [round(x.gbitPerCpuSecond)]));
  const gbitPerCpuSecond = { twill: eff('twill'), kernel: eff('kernel'), underlay: eff('underlay') };
  const cpuRatio = gbitPerCpuSecond.twill.length && gbitPerCpuSecond.kernel.length ? round(median(gbitPerCpuSecond.twill) / median(gbitPerCpuSecond.kernel)) : null;
  const pressure = PATHS.flatMap((p) => runs[p].flatMap((x) => (x.cpuPressure === undefined ? [] : [x.cpuPressure])));
  return {
    mode,
    twillGbps: round(twill),
    kernelGbps: round(kernel),
    underlayGbps: round(median(samples.underlay)),
    ratio: round(ratio),
    ratioOfMedians: round(kernel > 0 ? twill / kernel : 0),
    floor,
    meetsFloor: ratio >= floor,
    repeats: Math.min(samples.twill.length, samples.kernel.length, samples.underlay.length),
    durationSeconds: o.durationSeconds,
    samples,
    spread: { twill: spread(samples.twill), kernel: spread(samples.kernel), underlay: spread(samples.underlay) },
    retransmits: { twill: runs.twill.map((s) => s.retransmits), kernel: runs.kernel.map((s) => s.retransmits), underlay: runs.underlay.map((s) => s.retransmits) },
    gbitPerCpuSecond,
    cpuRatio,
    cpuPressure: pressure.length ? round(median(pressure), 2) : null,
    pairedRatios: paired.map((x) => round(x)),
    parity: o.parity,
    nftables: o.nftables,
  };
}

function cell(median: number, s: Spread): string {
  return `${median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
}

/** The people's table: medians with min–max, the ratio, and the floor marked ok or MISSED. */
export function formatBench(results: readonly ModeResult[]): string {
  const head = ['mode', 'twill Gbit/s', 'kernel Gbit/s', 'underlay Gbit/s', 'twill/kernel', `floor ≥ ${BENCH_FLOOR}`];
  const rows = results.map((r) => [
    r.mode,
    cell(r.twillGbps, r.spread.twill),
    cell(r.kernelGbps, r.spread.kernel),
    cell(r.underlayGbps, r.spread.underlay),
    r.ratio.toFixed(3),
    r.meetsFloor ? 'ok' : 'MISSED',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(head), ...rows.map(line)];
  const first = results[0];
  if (first) {
    out.push('', `medians of ${first.repeats} interleaved iperf3 TCP runs of ${first.durationSeconds} s each (min–max in brackets);`);
    out.push('twill/kernel is the median of the per-repeat ratios (each pair ran back to back)');
  }
  for (const r of results) {
    out.push(`${r.mode}: twill/kernel per repeat ${r.pairedRatios.map((x) => x.toFixed(3)).join(' ')}`);
    if (r.cpuRatio !== null) out.push(`${r.mode}: Gbit per CPU-second, twill/kernel ${r.cpuRatio.toFixed(3)} (below 1: Twill's path costs more CPU per byte)`);
    if (r.cpuPressure !== null && r.cpuPressure >= 0.2) {
      out.push(`${r.mode}: the machine was busy (tasks waited for a CPU ${Math.round(r.cpuPressure * 100)}% of the time): expect noisy figures, use more --repeats`);
    }
    out.push(`${r.mode}: nftables on the node: twill ${r.nftables.twill.join(', ') || '-'}; kernel ${r.nftables.kernel.join(', ') || '-'}`);
    for (const p of r.parity) out.push(`${r.mode}: parity: ${p}`);
  }
  return out.join('\n');
}

// `twill lab bench`: pod→pod TCP throughput of Twill against the same datapath wired by hand and
// against the raw underlay, per routing backend, in one run.
//
// For every backend it builds, side by side:
//   twill     lab <name>t<v|h>: 2 nodes running real agents, a pod on each (bench-twill.ts)
//   kernel    namespaces twl-<name>k<v|h>-*: the same topology wired by hand (bench-hand.ts)
//   underlay  node-1 → node-2 of the hand topology over the underlay bridge, no encapsulation
// then runs iperf3 interleaved — for each repeat, for each backend: twill, kernel, underlay, the
// whole round reversed on every second repeat (roundOrder) — so background load and drift on a
// shared machine hit every path alike, and reports medians and spread; the
// floor is judged on the median of the per-repeat twill/kernel ratios (bench-report.ts).
// Everything it created is removed at the end, after a failure, and on SIGINT/SIGTERM. Leftovers
// of an interrupted run with the same --name are removed before it starts; a lab of one of those
// names that no benchmark made is refused, never torn down.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listNetns } from '../dataplane/kernel/netns.js';
import type { BackendName } from '../model/types.js';
import { TwillError, describeError } from '../util/errors.js';
import { applyHandPlan, handUnderlayMtu, planHandPath, removeHandPath } from './bench-hand.js';
import { iperf3 } from './bench-iperf.js';
import { compareParity, type Parity } from './bench-parity.js';
import { roundOrder, summarize, type ModeResult, type PathName, type Sample } from './bench-report.js';
import { startTwillPath, type BenchPath } from './bench-twill.js';
import { Lab, type Print } from './lab.js';
import { labDir, loadLab } from './state.js';

export interface BenchOptions {
  /** Prefix of the labs and namespaces the bench creates (1-10 lower-case letters or digits). */
  name: string;
  backends: BackendName[];
  durationSeconds: number;
  repeats: number;
}

export const BENCH_DEFAULTS: BenchOptions = { name: 'bench', backends: ['vxlan', 'host-gw'], durationSeconds: 5, repeats: 5 };

/** The lab names one backend's paths use. */
export function benchLabNames(name: string, backend: BackendName): { twill: string; hand: string } {
  const b = backend === 'vxlan' ? 'v' : 'h';
  return { twill: `${name}t${b}`, hand: `${name}k${b}` };
}

export function validateBench(o: BenchOptions): void {
  const bad = (why: string) => {
    throw new TwillError('CONFIG_INVALID', `lab bench: ${why}`);
  };
  if (!/^[a-z][a-z0-9]{0,9}$/.test(o.name)) bad(`--name "${o.name}" must be 1-10 lower-case letters or digits, starting with a letter (the bench appends two characters per lab)`);
  if (o.backends.length === 0) bad('give at least one --backend');
  if (new Set(o.backends).size !== o.backends.length) bad(`--backend lists a backend twice (${o.backends.join(', ')})`);
  if (!Number.isInteger(o.durationSeconds) || o.durationSeconds < 1 || o.durationSeconds > 600) bad('--duration must be a whole number of seconds, 1..600');
  if (!Number.isInteger(o.repeats) || o.repeats < 1 || o.repeats > 100) bad('--repeats must be 1..100');
}

interface Setup {
  backend: BackendName;
  twill: BenchPath;
  hand: BenchPath;
  parity: Parity;
  runs: Record<PathName, Sample[]>;
}

function endpoints(s: Setup, p: PathName): { from: string; to: string; ip: string } {
  if (p === 'twill') return { from: s.twill.srcPod, to: s.twill.dstPod, ip: s.twill.dstPodIp };
  if (p === 'kernel') return { from: s.hand.srcPod, to: s.hand.dstPod, ip: s.hand.dstPodIp };
  return { from: s.hand.srcNode, to: s.hand.dstNode, ip: s.hand.dstNodeIp };
}

async function setUp(o: BenchOptions, backend: BackendName, cleanups: (() => Promise<void>)[], progress: Print): Promise<Setup> {
  const names = benchLabNames(o.name, backend);
  progress(`${backend}: lab ${names.twill} (Twill) and namespaces twl-${names.hand}-* (hand-wired)`);
  const { lab, path } = await startTwillPath(names.twill, backend, (l) => progress(`  ${l.trim()}`));
  cleanups.push(() => lab.close());
  const plan = planHandPath(names.hand, backend, await handUnderlayMtu(names.hand));
  await applyHandPlan(plan);
  const parity = await compareParity(path, plan.path, backend);
  for (const d of parity.differences) progress(`  parity: ${d}`);
  return { backend, twill: path, hand: plan.path, parity, runs: { twill: [], kernel: [], underlay: [] } };
}

/** Marks a lab directory as the bench's, so a later run may remove it as a leftover. */
const OWNER_MARK = 'made-by-lab-bench';

/**
 * Makes `lab` free for the bench: leftovers of an interrupted bench are removed; anything else
 * by that name (someone's lab) is refused rather than torn down.
 */
export async function claimBenchLab(lab: string, remove: (lab: string) => Promise<void>): Promise<void> {
  const mine = await stat(join(labDir(lab), OWNER_MARK)).then(() => true, () => false);
  const exists = (await loadLab(lab)) !== undefined || (await listNetns()).some((ns) => ns.startsWith(`twl-${lab}-`));
  if (exists && !mine) {
    throw new TwillError('CONFIG_INVALID', `lab "${lab}" exists and was not made by a benchmark; pick another --name, or remove it with \`twill lab down --name ${lab}\``);
  }
  if (mine) await remove(lab);
  await mkdir(labDir(lab), { recursive: true });
  await writeFile(join(labDir(lab), OWNER_MARK), `${process.pid}\n`);
}

/** Microseconds some task has waited for a CPU since boot (PSI); undefined without PSI. */
async function cpuStallMicros(): Promise<number | undefined> {
  // why: read-only: no PSI on this kernel, no stall figure
  const text = await readFile('/proc/pressure/cpu', 'utf8').catch(() => '');
  const m = /^some .*total=(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** One iperf3 run, with the CPU pressure the machine was under meanwhile. */
async function measure(s: Setup, p: PathName, seconds: number, signal: AbortSignal): Promise<Sample> {
  const stall0 = await cpuStallMicros();
  const t0 = performance.now();
  const sample = await iperf3({ ...endpoints(s, p), seconds, signal });
  const stall1 = await cpuStallMicros();
  const wallMicros = (performance.now() - t0) * 1000;
  if (stall0 === undefined || stall1 === undefined || wallMicros <= 0) return sample;
  return { ...sample, cpuPressure: Math.min(1, (stall1 - stall0) / wallMicros) };
}

export async function runBench(o: BenchOptions, progress: Print): Promise<ModeResult[]> {
  validateBench(o);
  const cleanups: (() => Promise<void>)[] = [];
  // One cleanup, however many callers (the signal handler and the finally below may race).
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      while (cleanups.length) await cleanups.pop()!().catch((e: unknown) => progress(`cleanup: ${describeError(e)}`));
    })());
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    progress(`${sig}: removing what the bench created`);
    abort.abort();
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const b of o.backends) {
      const names = benchLabNames(o.name, b);
      const downTwill = () => Lab.down(names.twill, () => undefined);
      await claimBenchLab(names.twill, downTwill);
      cleanups.push(downTwill);
      await claimBenchLab(names.hand, removeHandPath);
      cleanups.push(() => removeHandPath(names.hand));
    }
    const setups: Setup[] = [];
    for (const b of o.backends) setups.push(await setUp(o, b, cleanups, progress));
    for (let r = 1; r <= o.repeats; r++) {
      for (const [s, p] of roundOrder(setups, r)) {
        const sample = await measure(s, p, o.durationSeconds, abort.signal);
        s.runs[p].push(sample);
        progress(`repeat ${r}/${o.repeats}  ${s.backend.padEnd(7)}  ${p.padEnd(8)}  ${sample.gbps.toFixed(2)} Gbit/s  ${sample.gbitPerCpuSecond?.toFixed(2) ?? '?'} Gbit/CPU-s  (${sample.retransmits} retransmits${sample.cpuPressure === undefined ? '' : `, CPU pressure ${Math.round(sample.cpuPressure * 100)}%`})`);
      }
    }
    return setups.map((s) => summarize(s.backend, s.runs, { durationSeconds: o.durationSeconds, parity: s.parity.differences, nftables: s.parity.nftables }));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

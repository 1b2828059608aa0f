// What the bench measures on a node whose proxy has synced: new connections per second to the
// ClusterIP, throughput through it and direct, the proxy's RSS, and endpoint-change latency
// (from the write's acknowledgement to the first `nft monitor` line naming the new address).
import { readFile } from 'node:fs/promises';
import type { Node } from './node.js';
import { CLIENT_CPU, CRR, TAG } from './node.js';
import { BENCH_IP, filler, type Feeds, type Proxy } from './objects.js';
import { firstLine, nsx, sh, sleep, start, stop, tail } from './proc.js';

/** One run of `crr connect` (32 at a time, `seconds`): new connections per second to the ClusterIP. */
async function connOnce(n: Node, seconds: number): Promise<number> {
  const c = start(nsx(n.client, ['taskset', '-c', CLIENT_CPU, CRR, 'connect', BENCH_IP, '80', String(seconds), '32']));
  const r = JSON.parse(await firstLine(c, (seconds + 20) * 1000)) as { connections: number; seconds: number; errors: number };
  if (r.errors > r.connections / 20) throw new Error(`${r.errors} failed connections of ${r.connections} to the ClusterIP`);
  return r.connections / r.seconds;
}

/** The middle value (an even count: the mean of the middle two). */
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};

/** The median of three runs of `connect` (32 at a time, `seconds` each). */
export async function connRate(n: Node, seconds: number): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) rates.push(await connOnce(n, seconds));
  return median(rates);
}

/**
 * New connections/s on two nodes measured in turn, `rounds` rounds in the order a b, b a, a b, …, so
 * that both see the same moments of this shared machine and neither always runs second (right
 * after the other's burst, whose TIME_WAIT sockets and conntrack entries the kernel is still
 * reaping; measured a-then-b every round, b lost in 4 of 5 rounds of one run): each node's rates
 * and the median of the rounds' ratios b ÷ a.
 */
export async function connRatePaired(a: Node, b: Node, seconds: number, rounds = 12): Promise<{ a: number[]; b: number[]; ratio: number }> {
  const ra: number[] = [];
  const rb: number[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      ra.push(await connOnce(a, seconds));
      rb.push(await connOnce(b, seconds));
    } else {
      rb.push(await connOnce(b, seconds));
      ra.push(await connOnce(a, seconds));
    }
  }
  return { a: ra.map(Math.round), b: rb.map(Math.round), ratio: +median(rb.map((x, i) => x / ra[i]!)).toFixed(3) };
}

/** iperf3 from the client pod to `dst`: bits per second received. */
export function throughput(n: Node, dst: string, seconds: number): number {
  const out = sh(nsx(n.client, ['iperf3', '-c', dst, '-p', '5201', '-t', String(seconds), '-J', '-A', CLIENT_CPU]));
  return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
}

/**
 * Throughput through `via` against `direct`, in `pairs` back-to-back pairs (via first in even
 * pairs, direct first in odd ones): the ratio is the median of the pairs' ratios, so a slow second
 * on this shared machine moves one pair, not the result. One 1 s run through `via` goes first and
 * is not counted (`warmupGbps`): the first pair was the lowest in 4 of 5 runs on 2026-12-03
 * (0.80–0.88 against ~0.98 for the rest). Gbit/s per sample.
 */
export function throughputPairs(n: Node, via: string, direct: string, seconds: number, pairs = 8): { viaClusterIP: number[]; direct: number[]; ratio: number; warmupGbps: number } {
  const warmupGbps = +(throughput(n, via, 1) / 1e9).toFixed(2);
  const v: number[] = [];
  const d: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    // Alternate which goes first, as connRatePaired does.
    if (i % 2 === 0) {
      v.push(throughput(n, via, seconds) / 1e9);
      d.push(throughput(n, direct, seconds) / 1e9);
    } else {
      d.push(throughput(n, direct, seconds) / 1e9);
      v.push(throughput(n, via, seconds) / 1e9);
    }
    ratios.push(v[i]! / d[i]!);
  }
  const gbps = (xs: number[]): number[] => xs.map((x) => +x.toFixed(2));
  return { viaClusterIP: gbps(v), direct: gbps(d), ratio: +median(ratios).toFixed(3), warmupGbps };
}

export async function rssMB(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Math.round(Number(m[1]) / 1024);
}

/** The process's memory by kind (smaps_rollup): anonymous (heap, stacks, malloc) and file-backed (code). */
export async function memoryOf(pid: number): Promise<{ anonMB: number; fileMB: number }> {
  const t = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? NaN);
  return { anonMB: Math.round(kb('Anonymous') / 1024), fileMB: Math.round((kb('Rss') - kb('Anonymous')) / 1024) };
}

/** `changes` endpoint changes one at a time, each on another filler Service of the `services`. */
export async function endpointChanges(o: { proxy: Proxy; idx: number; node: Node; feeds: Feeds; changes: number; services: number; gapMs: number; dir: string }): Promise<number[]> {
  const { proxy: p, node: n } = o;
  const monLog = `${o.dir}/monitor-${n.ns}.log`;
  const mon = start(nsx(n.ns, ['stdbuf', '-oL', 'nft', 'monitor']), monLog);
  let lineCount = 0;
  let buf = '';
  const waiters = new Map<string, (t: number) => void>();
  mon.stdout!.on('data', (b: Buffer) => {
    const t = performance.now();
    buf += b.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    lineCount += lines.length;
    for (const l of lines)
      for (const [ip, w] of waiters) {
        if (!l.includes(ip)) continue;
        waiters.delete(ip);
        w(t);
      }
  });
  // nft monitor reads the ruleset before it reports, and starts that read over whenever the
  // ruleset changes meanwhile: on a big ruleset, probing fast would keep it from ever starting.
  // So probe (add and delete a table) with growing quiet gaps until it reports the probe.
  const probe = `${TAG}probe`;
  let up = false;
  waiters.set(probe, () => (up = true));
  const t0 = performance.now();
  for (let gap = 500; !up; gap = Math.min(gap * 2, 8000)) {
    if (performance.now() - t0 > 90_000) throw new Error(`${p}: nft monitor did not report the probe table within 90 s (${lineCount} lines seen, monitor ${mon.exitCode === null ? 'running' : `exited with ${mon.exitCode}`}): ${tail(monLog)}`);
    await sleep(gap);
    sh(nsx(n.ns, ['nft', 'add', 'table', 'ip', probe]), true);
    sh(nsx(n.ns, ['nft', 'delete', 'table', 'ip', probe]), true);
    for (let w = 0; w < gap && !up; w += 50) await sleep(50);
  }
  const lat: number[] = [];
  try {
    for (let j = 0; j < o.changes; j++) {
      const i = (j * 331 + 7) % (o.services - 1);
      const [, s] = filler(i);
      const fresh = `10.248.${o.idx}.${j + 1}`;
      s.endpoints[0]!.addresses = [fresh];
      const seen = new Promise<number>((res, rej) => {
        waiters.set(fresh, res);
        setTimeout(() => rej(new Error(`${p}: endpoint ${fresh} not in the kernel within 30 s`)), 30_000).unref();
      });
      await o.feeds.replaceSlice(p, s);
      const acked = performance.now();
      lat.push((await seen) - acked);
      // kube-proxy's minSyncPeriod is 1 s: changes further apart are each applied at once.
      await sleep(o.gapMs);
    }
  } finally {
    await stop(mon);
  }
  return lat;
}

export const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!.toFixed(1);
};

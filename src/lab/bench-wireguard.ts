// `twill lab bench --backend wireguard`: what encryption costs and how fast a tunnel comes up.
//   throughput  pod→pod iperf3 through WireGuard (lab <name>tw: vxlan + encryption) against plain
//               vxlan (lab <name>tv) in the same run, interleaved per repeat, medians; the ratio;
//               and CPU-seconds per Gbit moved: iperf3's own CPU (which carries the kernel's
//               softirq work) plus, for WireGuard, the wireguard-go processes of both nodes.
//   join        a node joins the encrypted lab, 20 times: from its TwillNode appearing in the
//               datastore (a watch here) to the first reply of a ping from a pod on node-1 to the
//               new node's twill0 address (inside its pod block). Strict mode makes the request
//               go through the tunnel or not at all, so the first reply is the tunnel carrying.
// Floors: WireGuard ≥ 1 Gbit/s; join p99 ≤ 1000 ms.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WIREGUARD_DEVICE } from '../dataplane/kernel/names.js';
import type { Pod } from '../model/types.js';
import { TwillError, describeError } from '../util/errors.js';
import { applyDocs, ensureDefaultNamespace } from './apply.js';
import { claimBenchLab } from './bench.js';
import { iperf3 } from './bench-iperf.js';
import { LabKubelet } from './kubelet.js';
import { LAB_DEFAULTS, Lab, type Print } from './lab.js';
import { nodeDir } from './state.js';

export const WG_FLOOR_GBPS = 1;
export const WG_JOIN_P99_FLOOR_MS = 1000;

export interface WireguardBenchOptions {
  name: string;
  durationSeconds: number;
  repeats: number;
  joins: number;
}

export interface WireguardBenchResult {
  mode: 'wireguard';
  implementation: string | undefined;
  wireguardGbps: number;
  vxlanGbps: number;
  /** Median of the per-repeat wireguard/vxlan ratios. */
  ratioToVxlan: number;
  /** CPU-seconds per Gbit moved (lower is better). */
  wireguardCpuSecondsPerGbit: number | undefined;
  vxlanCpuSecondsPerGbit: number | undefined;
  samples: { wireguard: number[]; vxlan: number[] };
  /**
   * Share of each run's wall time in which some task waited for a CPU (PSI), wireguard runs
   * then vxlan runs: wireguard-go is CPU-bound, so on a busy machine this explains its figure.
   */
  cpuPressure: { wireguard: number[]; vxlan: number[] };
  join: { count: number; p50Ms: number; p99Ms: number; maxMs: number; samplesMs: number[]; failures: string[] };
  floors: { gbps: number; joinP99Ms: number };
  meetsFloor: boolean;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};

const benchPod = (name: string, node: string): Pod => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels: { app: 'twill-bench' } }, spec: { nodeName: node, containers: [{ name: 'iperf3' }] },
});

async function twoNodeLab(name: string, encrypted: boolean, print: Print): Promise<{ lab: Lab; src: string; dst: string; dstIp: string }> {
  const lab = await Lab.up({ ...LAB_DEFAULTS, name, nodes: 2, encryption: encrypted ? 'wireguard' : 'none' }, print);
  await ensureDefaultNamespace(await lab.store());
  await applyDocs(lab, [benchPod('bench-src', 'node-1'), benchPod('bench-dst', 'node-2')].map((obj, i) => ({ source: 'lab bench', index: i + 1, obj })), print);
  const k = new LabKubelet(lab);
  const src = await k.record('default', 'bench-src');
  const dst = await k.record('default', 'bench-dst');
  if (!src || !dst) throw new TwillError('INTERNAL', `lab ${name}: the bench pods did not start`);
  return { lab, src: src.netns, dst: dst.netns, dstIp: dst.ip };
}

/** CPU-seconds (user+system) used so far by the wireguard-go processes of the lab's nodes. */
async function wgCpuSeconds(lab: Lab): Promise<number> {
  let ticks = 0;
  for (const n of lab.state.nodes) {
    // why: read-only measurement: no wireguard-go (kernel WireGuard) counts 0 ticks
    const pid = (await readFile(join(nodeDir(lab.name, n.name), 'run', 'wireguard', `${WIREGUARD_DEVICE}.pid`), 'utf8').catch(() => '')).trim();
    // why: read-only measurement: a process that is gone counts 0 ticks
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11] ?? 0) + Number(f[12] ?? 0); // utime, stime (fields 14, 15)
  }
  return ticks / 100; // USER_HZ
}

/** Microseconds some task has waited for a CPU since boot (PSI); undefined without PSI. */
async function cpuStallMicros(): Promise<number | undefined> {
  // why: read-only: no PSI on this kernel, no stall figure
  const m = /^some .*total=(\d+)/m.exec(await readFile('/proc/pressure/cpu', 'utf8').catch(() => ''));
  return m ? Number(m[1]) : undefined;
}

/** Time from `since` to the first ping reply from `fromNetns` to `ip` (ping -D timestamps). */
function firstReply(fromNetns: string, ip: string, since: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn('nsenter', [`--net=/run/netns/${fromNetns}`, '--', 'ping', '-D', '-n', '-i', '0.01', '-W', '1', '-w', String(Math.ceil(timeoutMs / 1000)), ip], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buf = '';
    let done = false;
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(buf);
      if (m && !done) {
        done = true;
        p.kill('SIGKILL');
        resolve(Number(m[1]) * 1000 - since);
      }
    });
    p.on('exit', () => {
      if (!done) reject(new TwillError('TIMEOUT', `no reply from ${ip} within ${timeoutMs} ms`));
    });
  });
}

async function joins(lab: Lab, probeFrom: string, count: number, progress: Print): Promise<WireguardBenchResult['join']> {
  const store = await lab.store();
  const samples: number[] = [];
  const failures: string[] = [];
  for (let i = 0; i < count; i++) {
    const { revision } = await store.list('TwillNode');
    const known = new Set(lab.state.nodes.map((n) => n.name));
    let measured: Promise<number> | undefined;
    const watch = store.watch('TwillNode', {
      fromRevision: revision,
      onEvent: (ev) => {
        if (ev.type === 'RESYNC' || ev.type === 'DELETED' || measured || known.has(ev.object.metadata.name)) return;
        const vtep = ev.object.spec.vtepIP;
        if (!vtep || !ev.object.spec.wireguard) return; // wait for the record that can be reached
        measured = firstReply(probeFrom, vtep, Date.now(), 10_000);
      },
    });
    let node: string | undefined;
    try {
      node = await lab.addNode(() => undefined);
      const until = Date.now() + 10_000;
      while (!measured && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      if (!measured) throw new TwillError('TIMEOUT', `${node}: no TwillNode with a VTEP address and a WireGuard key appeared`);
      const ms = await measured;
      samples.push(ms);
      progress(`join ${i + 1}/${count}: ${node} carried traffic ${ms.toFixed(0)} ms after its node record appeared`);
    } catch (e) {
      failures.push(describeError(e));
      progress(`join ${i + 1}/${count}: ${describeError(e)}`);
    } finally {
      watch.stop();
      if (node) await lab.removeNode(node).catch((e: unknown) => progress(`join ${i + 1}/${count}: could not remove ${node}: ${describeError(e)}`));
    }
  }
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  return { count, p50Ms: r1(pct(samples, 50)), p99Ms: r1(pct(samples, 99)), maxMs: r1(Math.max(...samples)), samplesMs: samples.map(r1), failures };
}

export async function runWireguardBench(o: WireguardBenchOptions, progress: Print): Promise<WireguardBenchResult> {
  const names = { wg: `${o.name}tw`, plain: `${o.name}tv` };
  const cleanups: (() => Promise<void>)[] = [];
  try {
    for (const n of Object.values(names)) {
      await claimBenchLab(n, (l) => Lab.down(l, () => undefined));
      cleanups.push(() => Lab.down(n, () => undefined));
    }
    progress(`wireguard: lab ${names.wg} (vxlan + WireGuard), lab ${names.plain} (vxlan)`);
    const wg = await twoNodeLab(names.wg, true, (l) => progress(`  ${l.trim()}`));
    cleanups.push(() => wg.lab.close());
    const plain = await twoNodeLab(names.plain, false, (l) => progress(`  ${l.trim()}`));
    cleanups.push(() => plain.lab.close());
    const implementation = (await wg.lab.agentStatus('node-1')).encryption?.implementation;
    const runs = { wireguard: [] as number[], vxlan: [] as number[], wgCpu: [] as number[], vxCpu: [] as number[] };
    const pressure = { wireguard: [] as number[], vxlan: [] as number[] };
    for (let r = 1; r <= o.repeats; r++) {
      const order = r % 2 ? ['wireguard', 'vxlan'] as const : ['vxlan', 'wireguard'] as const;
      for (const m of order) {
        const p = m === 'wireguard' ? wg : plain;
        const cpu0 = m === 'wireguard' ? await wgCpuSeconds(wg.lab) : 0;
        const stall0 = await cpuStallMicros();
        const t0 = performance.now();
        const s = await iperf3({ from: p.src, to: p.dst, ip: p.dstIp, seconds: o.durationSeconds });
        const stall1 = await cpuStallMicros();
        if (stall0 !== undefined && stall1 !== undefined) pressure[m].push(Math.round(((stall1 - stall0) / ((performance.now() - t0) * 1000)) * 100) / 100);
        const extra = m === 'wireguard' ? (await wgCpuSeconds(wg.lab)) - cpu0 : 0;
        const gbit = s.gbps * o.durationSeconds;
        const iperfCpu = s.gbitPerCpuSecond ? gbit / s.gbitPerCpuSecond : undefined;
        runs[m].push(s.gbps);
        if (iperfCpu !== undefined) (m === 'wireguard' ? runs.wgCpu : runs.vxCpu).push((iperfCpu + extra) / gbit);
        progress(`repeat ${r}/${o.repeats}  ${m.padEnd(9)}  ${s.gbps.toFixed(2)} Gbit/s  (${s.retransmits} retransmits${extra ? `, wireguard-go ${extra.toFixed(2)} CPU-s` : ''})`);
      }
    }
    const ratios = runs.wireguard.map((w, i) => w / runs.vxlan[i]!);
    progress(`wireguard: ${o.joins} joins of a new node to lab ${names.wg}`);
    const j = await joins(wg.lab, wg.src, o.joins, progress);
    const r3 = (x: number): number => Math.round(x * 1000) / 1000;
    const res: WireguardBenchResult = {
      mode: 'wireguard',
      implementation,
      wireguardGbps: r3(median(runs.wireguard)),
      vxlanGbps: r3(median(runs.vxlan)),
      ratioToVxlan: r3(median(ratios)),
      wireguardCpuSecondsPerGbit: runs.wgCpu.length ? r3(median(runs.wgCpu)) : undefined,
      vxlanCpuSecondsPerGbit: runs.vxCpu.length ? r3(median(runs.vxCpu)) : undefined,
      samples: { wireguard: runs.wireguard.map(r3), vxlan: runs.vxlan.map(r3) },
      cpuPressure: pressure,
      join: j,
      floors: { gbps: WG_FLOOR_GBPS, joinP99Ms: WG_JOIN_P99_FLOOR_MS },
      meetsFloor: false,
    };
    res.meetsFloor = res.wireguardGbps >= WG_FLOOR_GBPS && j.failures.length === 0 && j.p99Ms <= WG_JOIN_P99_FLOOR_MS;
    return res;
  } finally {
    while (cleanups.length) await cleanups.pop()!().catch((e: unknown) => progress(`cleanup: ${describeError(e)}`));
  }
}

export function formatWireguardBench(r: WireguardBenchResult): string {
  return [
    `wireguard (${r.implementation ?? '?'}): ${r.wireguardGbps} Gbit/s vs vxlan ${r.vxlanGbps} Gbit/s (ratio ${r.ratioToVxlan}); CPU per Gbit: wireguard ${r.wireguardCpuSecondsPerGbit ?? '?'} s, vxlan ${r.vxlanCpuSecondsPerGbit ?? '?'} s`,
    `CPU pressure during the runs (PSI, share of time a task waited for a CPU): wireguard ${r.cpuPressure.wireguard.join(', ') || '?'}; vxlan ${r.cpuPressure.vxlan.join(', ') || '?'}`,
    `joins: ${r.join.count}, tunnel carries traffic p50 ${r.join.p50Ms} ms, p99 ${r.join.p99Ms} ms, max ${r.join.maxMs} ms after the node record appeared${r.join.failures.length ? `; ${r.join.failures.length} failed` : ''}`,
    `floors: ≥ ${r.floors.gbps} Gbit/s, join p99 ≤ ${r.floors.joinP99Ms} ms: ${r.meetsFloor ? 'met' : 'NOT MET'}`,
  ].join('\n');
}

// Flow records benchmark: the same 2-node lab three times in one run, agents with flow records
// (the default), without (--no-flow-records, the baseline) and without again (an A/A control:
// how far two identical labs differ on this machine), measured interleaved. Prints one JSON
// object on stdout; progress on stderr.
//   node --import tsx bench/flows/main.ts [--quick] [--repeats N] [--profile DIR] [--no-pin]
// --profile DIR: the records-on lab's node-2 agent (the destination: conntrack events and NFLOG)
// runs with --cpu-prof into DIR, and a heap snapshot of it is written there once its ring is full
// (bench/flows/profile-summary.mjs reads both).
// Every figure is printed with the load average beside it: the machine is shared.
//   throughputRatio      pod→pod iperf3, records on ÷ off (median of per-repeat ratios)   ≥ 0.95
//   newConnRatio         new TCP connections/s at full speed, on ÷ off                   ≥ 0.90
//   recordedAt2000       at 2,000 new connections/s for 10 s: connections with a new record
//                        (matched by source port) ÷ connections                            ≥ 0.99,
//                        and connections without a record ≤ events counted lost
//   deniedLatencyP99Ms   a denied connection seen by `twill observe -f`, p99 of 100       ≤ 1000
//   rssDeltaMb           agent RSS with a full default ring − the same agent, records off ≤ 50
// Not a floor: agentCpuUsPerConnection, both agents' CPU per connection at 2,000/s for 5 s (no
// one following the records), on and off.
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { agentRequest } from '../../src/cli/client.js';
import { flowsPath, type FlowReply } from '../../src/cli/flows-client.js';
import { run } from '../../src/dataplane/kernel/exec.js';
import { netnsPath } from '../../src/dataplane/kernel/netns.js';
import { isUnanswered, type FlowStatus } from '../../src/flows/index.js';
import { applyDocs, ensureDefaultNamespace } from '../../src/lab/apply.js';
import { iperf3 } from '../../src/lab/bench-iperf.js';
import { median } from '../../src/lab/bench-report.js';
import { LabKubelet, type PodRecord } from '../../src/lab/kubelet.js';
import { LAB_DEFAULTS, Lab } from '../../src/lab/lab.js';
import { loadManifests } from '../../src/lab/manifest.js';
import { probeFrom } from '../../src/lab/pod-sandbox.js';
import { nodeDir, podDir } from '../../src/lab/state.js';
import { twillBin } from '../../src/util/paths.js';
import { agentCpuTicks, agentPid, podsManifest } from './lab-agents.js';

const quick = process.argv.includes('--quick');
const argAfter = (flag: string): string | undefined => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const REPEATS = Number(argAfter('--repeats') ?? (quick ? 3 : 7));
const PROFILE = argAfter('--profile');
/** iperf3's client and server pinned to CPUs 0 and 1 in every lab (src/lab/bench-iperf.ts says why); --no-pin leaves them to the scheduler. */
const PIN = process.argv.includes('--no-pin') || cpus().length < 2 ? undefined : { client: 0, server: 1 };
const IPERF_S = quick ? 1 : 2;
/** Connection windows per lab and repetition, and their length. */
const WINDOWS = quick ? 2 : 4;
const WINDOW_S = 1;
const DENIED = quick ? 20 : 100;
const FLOORS = { throughputRatio: 0.95, newConnRatio: 0.9, recordedAt2000: 0.99, deniedLatencyP99Ms: 1000, rssDeltaMb: 50 };
const log = (m: string): boolean => process.stderr.write(`[bench/flows] ${m}\n`);
const quiet = (): void => undefined;
const LOAD = fileURLToPath(new URL('./conn-load.mjs', import.meta.url));

const MANIFEST = `${podsManifest([80, 8080])}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: dst-http, namespace: default }
spec:
  podSelector: { matchLabels: { app: dst } }
  ingress: [{ from: [{ podSelector: { matchLabels: { app: src } } }], ports: [{ port: 80 }, { port: 5201 }] }]
`;

interface Repeat {
  on: number;
  off: number;
  control: number;
  ratio: number;
  /** The A/A control: a second records-off lab ÷ the baseline. */
  controlRatio: number;
  load1: number;
}

interface Side {
  name: string;
  lab: Lab;
  src: PodRecord;
  dst: PodRecord;
}

async function side(name: string, on: boolean): Promise<Side> {
  await Lab.down(name, quiet);
  const lab = await Lab.up({ ...LAB_DEFAULTS, name, nodes: 2, ...(on ? {} : { agentFlags: ['--no-flow-records'] }) }, quiet);
  await ensureDefaultNamespace(await lab.store());
  const file = join(nodeDir(name, 'node-1'), 'bench-flows.yaml');
  await run('sh', ['-c', `cat > ${file} <<'EOF'\n${MANIFEST}EOF`]);
  await applyDocs(lab, await loadManifests([file]), quiet);
  const k = new LabKubelet(lab);
  const src = (await k.record('default', 'src'))!;
  const dst = (await k.record('default', 'dst'))!;
  // Many short connections from one pod: reuse TIME_WAIT ports, use the whole port range.
  await run('nsenter', [`--net=${netnsPath(src.netns)}`, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse; echo "1024 65535" > /proc/sys/net/ipv4/ip_local_port_range']);
  return { name, lab, src, dst };
}

interface LoadResult {
  attempted: number;
  connected: number;
  failed: number;
  seconds: number;
  /** With `ports`: the source port of each connection that connected. */
  ports?: number[];
}

async function connLoad(s: Side, port: number, seconds: number, rate: number, ports = false): Promise<LoadResult> {
  const { stdout } = await run('nsenter', [`--net=${netnsPath(s.src.netns)}`, process.execPath, LOAD, s.dst.ip, String(port), String(seconds), String(rate), ...(ports ? ['ports'] : [])]);
  return JSON.parse(stdout) as LoadResult;
}

/**
 * Follows a node's records from now on (as `observe -f` does, a request every 300 ms, well within
 * the ring) until stop(): the new records to the destination pod's port 80, by source port, and
 * how many records the follower missed (overwritten before it read them).
 */
function followNew(s: Side, node: string): { stop: () => Promise<{ bySourcePort: Map<number, number>; records: number; reused: number; unanswered: number; missed: number }> } {
  const bySourcePort = new Map<number, number>();
  let records = 0;
  let reused = 0;
  let unanswered = 0;
  let missed = 0;
  let stopping = false;
  const loop = (async (): Promise<void> => {
    let cursor = (await agentRequest<FlowReply>(s.lab.socket(node), 'GET', flowsPath({ last: 0 }))).cursor;
    for (;;) {
      const r = await agentRequest<FlowReply>(s.lab.socket(node), 'GET', flowsPath({ after: cursor, wait: 300 }));
      cursor = r.cursor;
      missed += r.missed;
      for (const x of r.records) {
        if (x.event !== 'new' || x.destination.ip !== s.dst.ip || x.l4.TCP?.destination_port !== 80) continue;
        // An attempt not answered yet (a SYN sent again) is not a connection's record.
        if (isUnanswered(x)) {
          unanswered++;
          continue;
        }
        records++;
        if (x.kernel_rule) reused++;
        const p = x.l4.TCP.source_port;
        bySourcePort.set(p, (bySourcePort.get(p) ?? 0) + 1);
      }
      if (stopping && r.records.length === 0) return;
      await new Promise((res) => setTimeout(res, 300));
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      return { bySourcePort, records, reused, unanswered, missed };
    },
  };
}

/** Connections (by source port, as many as connected from each) without a new record of that port. */
function unmatched(ports: number[], bySourcePort: Map<number, number>): number {
  const left = new Map(bySourcePort);
  let n = 0;
  for (const p of ports) {
    const k = left.get(p) ?? 0;
    if (k > 0) left.set(p, k - 1);
    else n++;
  }
  return n;
}

const stats = (s: Side, node: string): Promise<FlowStatus> => agentRequest<FlowStatus>(s.lab.socket(node), 'GET', '/v1/flows/status');
const lostSum = (st: FlowStatus): number => st.lost.nflog + st.lost.nflogOverflows + st.lost.conntrackOverflows;

async function rssMb(s: Side, node: string): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${await agentPid(s.name, node)}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

/** CPU time of a lab's two agents so far, µs (utime + stime from /proc, 100 ticks a second). */
async function agentCpu(s: Side): Promise<number> {
  let ticks = 0;
  for (const node of ['node-1', 'node-2']) ticks += await agentCpuTicks(s.name, node);
  return ticks * 10_000;
}

const spread = (xs: number[]): { min: number; max: number } => ({ min: Math.min(...xs), max: Math.max(...xs) });

/** The 1-minute load average, rounded: printed beside each figure. */
const load1 = (): number => Math.round(loadavg()[0]! * 100) / 100;

function p(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

async function deniedLatency(s: Side, n: number): Promise<number[]> {
  // Started well before the first attempt, with --since so that a slow start of the CLI cannot hide one.
  const since = new Date().toISOString();
  const proc = spawn(process.execPath, [twillBin(), 'observe', '--lab', s.name, '-f', '-o', 'json', '--verdict', 'DROPPED', '--port', '8080', '--since', since], { stdio: ['ignore', 'pipe', 'ignore'] });
  const arrivals: number[] = [];
  let wake: (() => void) | undefined;
  createInterface({ input: proc.stdout }).on('line', () => {
    arrivals.push(Date.now());
    wake?.();
  });
  try {
    await new Promise((r) => setTimeout(r, 3000));
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const seen = arrivals.length;
      const t0 = Date.now();
      const got = new Promise<void>((resolve) => (wake = () => arrivals.length > seen && resolve()));
      await probeFrom(podDir(s.name, 'default', 'src'), [{ ip: s.dst.ip, port: 8080, protocol: 'tcp', timeoutMs: 150 }]);
      await Promise.race([got, new Promise((r) => setTimeout(r, 3000))]);
      out.push(arrivals.length > seen ? arrivals[seen]! - t0 : 3000);
      // Let the SYN's retransmission window pass without a second record.
      await new Promise((r) => setTimeout(r, 20));
    }
    return out;
  } finally {
    proc.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  log('bringing up three 2-node labs: flbon (records on), flboff (records off) and flbctl (records off: the A/A control)');
  try {
    await measure(started);
  } finally {
    await Lab.down('flbon', quiet);
    await Lab.down('flboff', quiet);
    await Lab.down('flbctl', quiet);
  }
}

async function measure(started: number): Promise<void> {
  const on = await side('flbon', true);
  const off = await side('flboff', false);
  const ctl = await side('flbctl', false);
  const loadStart = loadavg().map((x) => Math.round(x * 100) / 100);
  log(`load average at start: ${loadStart.join(' ')}`);
  let profileDir: string | undefined;
  if (PROFILE) {
    profileDir = resolve(PROFILE);
    await mkdir(profileDir, { recursive: true });
    await on.lab.stopAgent('node-2');
    await on.lab.startAgent('node-2', ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${profileDir}`]);
    log(`profiling flbon's node-2 agent into ${profileDir}`);
  }
  {
    // Per repetition: iperf3 on each lab, then short connection windows on each, interleaved,
    // the order rotating, so a burst of other tenants' load hits all three alike. The control lab
    // (records off, like the baseline) shows how far two identical labs differ on this machine.
    const tput: Repeat[] = [];
    const conns: Repeat[] = [];
    const sides = [on, off, ctl];
    for (let r = 0; r < REPEATS; r++) {
      const order = [...sides.slice(r % 3), ...sides.slice(0, r % 3)];
      const bps: Record<string, number> = {};
      const n: Record<string, number> = {};
      const secs: Record<string, number> = {};
      for (const s of order) bps[s.name] = (await iperf3({ from: s.src.netns, to: s.dst.netns, ip: s.dst.ip, seconds: IPERF_S, ...(PIN ? { cpus: PIN } : {}) })).gbps;
      for (let w = 0; w < WINDOWS; w++) {
        for (const s of w % 2 ? [...order].reverse() : order) {
          const c = await connLoad(s, 80, WINDOW_S, 0);
          n[s.name] = (n[s.name] ?? 0) + c.connected;
          secs[s.name] = (secs[s.name] ?? 0) + c.seconds;
        }
      }
      const cps = (x: Side): number => n[x.name]! / secs[x.name]!;
      const l = load1();
      tput.push({ on: bps[on.name]!, off: bps[off.name]!, control: bps[ctl.name]!, ratio: bps[on.name]! / bps[off.name]!, controlRatio: bps[ctl.name]! / bps[off.name]!, load1: l });
      conns.push({ on: cps(on), off: cps(off), control: cps(ctl), ratio: cps(on) / cps(off), controlRatio: cps(ctl) / cps(off), load1: l });
      log(`repeat ${r + 1}/${REPEATS} (load ${l}): throughput on/off ${tput.at(-1)!.ratio.toFixed(3)} (control ${tput.at(-1)!.controlRatio.toFixed(3)}), new conn/s on/off ${conns.at(-1)!.ratio.toFixed(3)} (control ${conns.at(-1)!.controlRatio.toFixed(3)}; ${Math.round(cps(on))} / ${Math.round(cps(off))} / ${Math.round(cps(ctl))})`);
    }
    log('2,000 new connections/s for 5 s on both labs (agent CPU)');
    await new Promise((r) => setTimeout(r, 1000));
    const cpuOn0 = await agentCpu(on);
    const loadCpuOn = await connLoad(on, 80, 5, 2000);
    await new Promise((r) => setTimeout(r, 1500));
    const cpuOn = (await agentCpu(on)) - cpuOn0;
    const cpuOff0 = await agentCpu(off);
    const loadCpuOff = await connLoad(off, 80, 5, 2000);
    await new Promise((r) => setTimeout(r, 1500));
    const cpuOff = (await agentCpu(off)) - cpuOff0;
    // RSS once the agents are idle again (V8 returns memory after a burst lazily), the ring full,
    // before anyone reads the records (serving the follower below makes garbage of its own).
    await new Promise((r) => setTimeout(r, 5000));
    const [rssOn, rssOff] = [await rssMb(on, 'node-2'), await rssMb(off, 'node-2')];
    const loadAtRss = load1();
    const ring = await stats(on, 'node-2');
    log('2,000 new connections/s for 10 s on the records-on lab, node-2 followed: each connection matched to a new record by source port');
    await new Promise((r) => setTimeout(r, 1000));
    const before = await stats(on, 'node-2');
    const follow = followNew(on, 'node-2');
    const load = await connLoad(on, 80, 10, 2000, true);
    const loadAt2000 = load1();
    await new Promise((r) => setTimeout(r, 1500));
    const followed = await follow.stop();
    const after = await stats(on, 'node-2');
    const lost = lostSum(after) - lostSum(before) + followed.missed;
    const missing = unmatched(load.ports ?? [], followed.bySourcePort);
    const recorded = load.connected - missing;
    log(`${recorded} of ${load.connected} connections have a new record (${followed.records} new records, ${followed.reused} of them from a SYN on a reused conntrack entry, and ${followed.unanswered} no-reply-yet records; lost counted: ${lost})`);
    if (profileDir) {
      // A heap snapshot of the agent holding a full ring (--heapsnapshot-signal).
      process.kill(Number(await agentPid(on.name, 'node-2')), 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 8000));
    }
    log(`denied connections in observe -f × ${DENIED}`);
    const lat = await deniedLatency(on, DENIED);
    const loadAtDenied = load1();
    const result = {
      bench: 'flows',
      quick,
      seconds: Math.round((Date.now() - started) / 1000),
      loadAverage: { start: loadStart, end: loadavg().map((x) => Math.round(x * 100) / 100) },
      // A profiled agent is slower and bigger: its figures are not the floors' evidence.
      ...(profileDir ? { profileDir, profiled: 'flbon node-2' } : {}),
      throughput: { iperfCpus: PIN ?? 'unpinned', repeats: tput, medianRatio: median(tput.map((x) => x.ratio)), spread: spread(tput.map((x) => x.ratio)), controlMedianRatio: median(tput.map((x) => x.controlRatio)), controlSpread: spread(tput.map((x) => x.controlRatio)) },
      newConnections: { repeats: conns, medianRatio: median(conns.map((x) => x.ratio)), spread: spread(conns.map((x) => x.ratio)), controlMedianRatio: median(conns.map((x) => x.controlRatio)), controlSpread: spread(conns.map((x) => x.controlRatio)) },
      // CPU time of both agents of a lab (utime + stime) per connection, during the 10 s at 2,000/s and 1.5 s after.
      agentCpuUsPerConnection: { on: Math.round(cpuOn / loadCpuOn.connected), off: Math.round(cpuOff / loadCpuOff.connected) },
      at2000PerSecond: {
        load: { attempted: load.attempted, connected: load.connected, failed: load.failed, seconds: load.seconds },
        // Connections with a new record on the destination node, matched by source port.
        recordedOnDestinationNode: recorded,
        ratio: recorded / load.connected,
        newRecords: followed.records,
        fromReusedEntries: followed.reused,
        // Records of SYNs sent again on unanswered entries (not counted above), and such SYNs the table's rate limit kept from the log.
        unansweredRecords: followed.unanswered,
        unansweredLimited: (after.unansweredLimited ?? 0) - (before.unansweredLimited ?? 0),
        missing,
        lostCounted: lost,
        everyMissingCounted: missing <= lost,
        load1: loadAt2000,
      },
      deniedInObserve: { attempts: lat.length, p50Ms: p(lat, 0.5), p99Ms: p(lat, 0.99), maxMs: Math.max(...lat), load1: loadAtDenied },
      rss: { onMb: Math.round(rssOn), offMb: Math.round(rssOff), deltaMb: Math.round(rssOn - rssOff), ringStored: ring.stored, ringSize: ring.ringSize, ringFull: ring.stored === ring.ringSize, load1: loadAtRss },
      floors: FLOORS,
      pass: {
        throughput: median(tput.map((x) => x.ratio)) >= FLOORS.throughputRatio,
        newConnections: median(conns.map((x) => x.ratio)) >= FLOORS.newConnRatio,
        recorded: recorded / load.connected >= FLOORS.recordedAt2000 && missing <= lost,
        deniedLatency: p(lat, 0.99) <= FLOORS.deniedLatencyP99Ms,
        rss: rssOn - rssOff <= FLOORS.rssDeltaMb && ring.stored === ring.ringSize,
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  }
}

await main();

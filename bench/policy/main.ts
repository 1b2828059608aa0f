// The NetworkPolicy benchmark. Prints one JSON object on stdout; progress goes to stderr.
//   node --import tsx bench/policy/main.ts [--quick] [--datapath-only]
// Cluster: bench/policy/cluster.ts (1,000 pods, 1,000 policies, described there). Two layouts of
// the same cluster: `all-local` (every pod on the measured node, the worst case for the node's
// ruleset) and `spread` (10 nodes, the measured node holds its 100 pods, a realistic node).
// Everything runs in network namespaces the bench creates and removes.
import { cpus, loadavg } from 'node:os';
import { run } from '../../src/dataplane/kernel/index.js';
import type { SnapshotPod } from '../../src/policy/index.js';
import { buildTopology } from '../../src/policy/testing/topology.js';
import { TestScope } from '../../test/support/scope.js';
import { benchCluster, benchSnapshot, type BenchCluster } from './cluster.js';
import { measureFull, measureIncremental, median } from './control.js';
import { measureDatapath } from './datapath.js';

const quick = process.argv.includes('--quick');
/** Only the datapath ratios (skips the two layouts' compile/apply measurements). */
const datapathOnly = process.argv.includes('--datapath-only');
const REPS_FULL = quick ? 2 : 5;
// 200 changes: with 60, the nearest-rank p99 is simply the maximum.
const CHANGES = quick ? 20 : 200;
const DATAPATH = { reps: quick ? 2 : 15, iperfSeconds: 1, iperfRuns: quick ? 1 : 2, connMs: 250, connWindows: quick ? 2 : 8 };
const FLOORS = { fullApplyMs: 1000, incrementalP99Ms: 100, datapathRatio: 0.95 };

const log = (msg: string): boolean => process.stderr.write(`[bench/policy] ${msg}\n`);

const benchPod = (name: string, ip: string): SnapshotPod => ({ namespace: 'bench', name, labels: { app: name }, ips: [ip], node: 'n0', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });

async function layout(scope: TestScope, name: string, cluster: BenchCluster) {
  const topo = await buildTopology(scope, [], { ip: '192.0.2.100', extraIps: [], routes: [] });
  const snap = benchSnapshot(cluster, 'n0');
  log(`${name}: compile + full apply × ${REPS_FULL}`);
  const full = await measureFull(snap, topo.node.path, topo.scratch, REPS_FULL);
  log(`${name}: ${CHANGES} single-policy changes (netlink batches)`);
  const incremental = await measureIncremental(snap, topo.node.path, topo.scratch, CHANGES, { netlink: true });
  // Baseline in the same run: the same changes, each sent with `nft -f`.
  log(`${name}: the same ${CHANGES} changes with nft -f (baseline)`);
  const incrementalNft = await measureIncremental(snap, topo.node.path, topo.scratch, CHANGES, { netlink: false });
  return { localPods: snap.localEndpoints.length, full: { ...full, medianTotalMs: median(full.totalMs) }, incremental, incrementalNftBaseline: incrementalNft };
}

async function main(): Promise<void> {
  const scope = new TestScope();
  const started = loadavg();
  try {
    const [nft, kernel] = await Promise.all([run('nft', ['--version']), run('uname', ['-r'])]);
    const layouts: Record<string, Awaited<ReturnType<typeof layout>>> = {};
    if (!datapathOnly) for (const [name, nodes] of [['all-local', 1], ['spread', 10]] as const) layouts[name] = await layout(scope, name, benchCluster(nodes));

    log(`datapath: four copies of the node; ${DATAPATH.reps} repetitions of ${DATAPATH.iperfRuns} × iperf3 ${DATAPATH.iperfSeconds} s on each + ${DATAPATH.connWindows} alternating connection-rate windows of ${DATAPATH.connMs} ms`);
    const client = benchPod('client', '10.244.250.2');
    const server = benchPod('server', '10.244.250.3');
    const wiring = [client, server].map((p) => ({ key: `bench/${p.name}`, ip: p.ips[0]!, iface: `twlbench${p.name.slice(0, 3)}` }));
    const build = () => buildTopology(scope, wiring, { ip: '192.0.2.100', extraIps: [], routes: [] });
    const extra = [client, server].map((pod, i) => ({ pod, iface: wiring[i]!.iface }));
    const cluster = benchCluster(1);
    const datapath = await measureDatapath(scope, build, { client: 'bench/client', server: 'bench/server' }, {
      zero: benchSnapshot({ ...cluster, policies: [] }, 'n0', extra),
      policies: benchSnapshot(cluster, 'n0', extra),
    }, DATAPATH);

    const all = layouts['all-local'];
    const spread = layouts['spread'];
    const floors = {
      ...(all && spread
        ? {
            fullApplyMs: { floor: `≤ ${FLOORS.fullApplyMs}`, allLocal: all.full.medianTotalMs, spread: spread.full.medianTotalMs },
            incrementalP99Ms: { floor: `≤ ${FLOORS.incrementalP99Ms}`, allLocal: all.incremental.totalMs.p99, spread: spread.incremental.totalMs.p99 },
          }
        : {}),
      datapathRatio: { floor: `≥ ${FLOORS.datapathRatio}`, throughput: datapath.pairedRatio.throughputVsZeroPolicies, connRate: datapath.pairedRatio.connRateVsZeroPolicies, aaControl: datapath.control },
    };
    const pass = {
      ...(all && spread
        ? {
            fullApply: all.full.medianTotalMs <= FLOORS.fullApplyMs && spread.full.medianTotalMs <= FLOORS.fullApplyMs,
            incremental: all.incremental.totalMs.p99 <= FLOORS.incrementalP99Ms && spread.incremental.totalMs.p99 <= FLOORS.incrementalP99Ms,
          }
        : {}),
      datapath: floors.datapathRatio.throughput >= FLOORS.datapathRatio && floors.datapathRatio.connRate >= FLOORS.datapathRatio,
    };
    const out = {
      bench: 'policy',
      quick,
      machine: { cpus: cpus().length, kernel: kernel.stdout.trim(), nft: nft.stdout.trim(), loadavgStart: started.map((x) => Math.round(x * 100) / 100), loadavgEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
      cluster: { pods: cluster.pods.length, policies: cluster.policies.length, namespaces: cluster.namespaces.length, shape: 'see bench/policy/cluster.ts' },
      layouts,
      datapath,
      floors,
      pass,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } finally {
    await scope.cleanup();
  }
}

await main();

// What CNI ADD's policy confirmation costs: after a pod's policy reconcile, ADD reads the kernel's
// anti-spoofing set back to confirm the pod's element is there (PolicyDataplane.endpointInKernel).
// `npm run bench:cni` cannot show it: its node is standalone, and the confirmation runs only in
// cluster mode. This measures the read-back itself, on the benchmark cluster's policy table
// (bench/policy/cluster.ts) with 100 local pods (spread) and 1,000 (all-local): the agent's one
// netlink GETSETELEM for the pod's element against the `nft -j list set` it replaced.
//   node --import tsx bench/policy/confirm.ts [--reps 60]
// Prints one JSON object; run it under the kernel-test lock.
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { NFT_TABLE_POLICY } from '../../src/dataplane/kernel/names.js';
import { PolicyCompiler, PolicyDataplane } from '../../src/policy/index.js';
import { buildTopology } from '../../src/policy/testing/topology.js';
import { TestScope } from '../../test/support/scope.js';
import { benchCluster, benchSnapshot } from './cluster.js';

const { values: args } = parseArgs({ options: { reps: { type: 'string', default: '60' } } });
const REPS = Number(args.reps);

function stats(xs: number[]): { median: number; p90: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => +s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!.toFixed(2);
  return { median: at(0.5), p90: at(0.9), max: at(1) };
}

async function main(): Promise<void> {
  const scope = new TestScope();
  const load = loadavg();
  const out: Record<string, unknown> = { reps: REPS, loadavgBefore: load.map((x) => +x.toFixed(2)) };
  try {
    for (const [name, nodes] of [['spread', 10], ['all-local', 1]] as const) {
      const topo = await buildTopology(scope, [], { ip: '192.0.2.100', extraIps: [], routes: [] });
      const snap = benchSnapshot(benchCluster(nodes), 'n0');
      // The agent's way (one GETSETELEM over netlink) and the earlier one (`nft -j list set`),
      // alternated on the same table so load hits both alike.
      const ways = { netlink: new PolicyDataplane({ runDir: topo.scratch, netnsPath: topo.node.path }), nftList: new PolicyDataplane({ runDir: topo.scratch, netnsPath: topo.node.path, netlink: false }) };
      await ways.netlink.apply(new PolicyCompiler().compile(snap), { full: true });
      const res: Record<string, unknown> = { localPods: snap.localEndpoints.length };
      const ms = { netlink: [] as number[], nftList: [] as number[] };
      const found = { netlink: 0, nftList: 0 };
      for (let i = 0; i < REPS; i++) {
        const e = snap.localEndpoints[(i * 7919) % snap.localEndpoints.length]!;
        for (const k of (i % 2 ? ['nftList', 'netlink'] : ['netlink', 'nftList']) as (keyof typeof ways)[]) {
          const t0 = performance.now();
          if (await ways[k].endpointInKernel(NFT_TABLE_POLICY, e.hostIface, e.ip)) found[k]++;
          ms[k].push(performance.now() - t0);
        }
      }
      for (const k of ['netlink', 'nftList'] as const) {
        res[k] = { found: `${found[k]}/${REPS}`, absentFound: await ways[k].endpointInKernel(NFT_TABLE_POLICY, 'twlnotthere0', '10.255.255.254'), readBackMs: stats(ms[k]) };
      }
      ways.netlink.close();
      out[name] = res;
      process.stderr.write(`[bench/confirm] ${name}: ${JSON.stringify(out[name])}\n`);
    }
  } finally {
    await scope.cleanup();
  }
  out['loadavgAfter'] = loadavg().map((x) => +x.toFixed(2));
  console.log(JSON.stringify(out, null, 1));
}

await main();

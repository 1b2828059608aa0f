// Datapath measurements between two hand-wired pods on the bench node: TCP throughput (iperf3,
// bounded duration) and new-connection rate (sequential connects, bounded count and time), with
// three rulesets installed in turn, interleaved, repeated: no twill-policy table at all, the
// table compiled with zero policies, and the table with the 1,000 policies (none selecting the
// two pods, so they are not isolated: this measures what the policy machinery costs them).
import { run } from '../../src/dataplane/kernel/index.js';
import { compilePolicy, PolicyDataplane, type PolicySnapshot } from '../../src/policy/index.js';
import { Prober, type Topology } from '../../src/policy/testing/topology.js';
import type { TestScope } from '../../test/support/scope.js';
import { median, round } from './control.js';

export type RulesetName = 'no-table' | 'zero-policies' | 'policies';

export interface DatapathOptions {
  reps: number;
  iperfSeconds: number;
  /** One connection-rate window. */
  connMs: number;
  /** Connection-rate windows per installed ruleset per repetition (paired by position). */
  connWindows: number;
}

export interface DatapathResult {
  reps: number;
  iperfSeconds: number;
  connMs: number;
  connWindows: number;
  gbps: Record<RulesetName, number[]>;
  connPerSec: Record<RulesetName, number[]>;
  median: { gbps: Record<RulesetName, number>; connPerSec: Record<RulesetName, number> };
  /** policies ÷ zero-policies and policies ÷ no-table: the ratio of the medians. */
  ratio: Ratios;
  /**
   * The same, as the median of the per-repetition ratios (each repetition runs all three back to
   * back; connection-rate windows pair by repetition and position).
   */
  pairedRatio: Ratios;
}

export interface Ratios {
  throughputVsZeroPolicies: number;
  throughputVsNoTable: number;
  connRateVsZeroPolicies: number;
  connRateVsNoTable: number;
}

async function iperf(clientNs: string, server: string, seconds: number): Promise<number> {
  const { stdout } = await run('ip', ['netns', 'exec', clientNs, 'iperf3', '-c', server, '-p', '5201', '-t', String(seconds), '-J'], { timeoutMs: (seconds + 10) * 1000 });
  const j = JSON.parse(stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
  return round((j.end?.sum_received?.bits_per_second ?? 0) / 1e9);
}

export async function measureDatapath(
  scope: TestScope,
  topo: Topology,
  pods: { client: string; server: string },
  snapshots: { zero: PolicySnapshot; policies: PolicySnapshot },
  opts: DatapathOptions,
): Promise<DatapathResult> {
  const client = topo.pods.get(pods.client)!;
  const server = topo.pods.get(pods.server)!;
  scope.spawn('ip', ['netns', 'exec', server.name, 'iperf3', '-s', '-p', '5201']);
  const serverAgent = await Prober.start(scope, server, { tcp: [80], udp: [] });
  const clientAgent = await Prober.start(scope, client, { tcp: [], udp: [] });
  void serverAgent;
  const dp = new PolicyDataplane({ runDir: topo.scratch, netnsPath: topo.node.path });
  const models = { zero: compilePolicy(snapshots.zero), policies: compilePolicy(snapshots.policies) };
  const install = async (r: RulesetName): Promise<void> => {
    if (r === 'no-table') await dp.remove('twill-policy');
    else await dp.apply(r === 'zero-policies' ? models.zero : models.policies, { full: true });
  };
  // Let iperf3's server come up; then one warm-up pass that is not recorded.
  await new Promise((r) => setTimeout(r, 300));
  await iperf(client.name, server.ip, 1);
  const names: RulesetName[] = ['no-table', 'zero-policies', 'policies'];
  const gbps: Record<RulesetName, number[]> = { 'no-table': [], 'zero-policies': [], policies: [] };
  const conn: Record<RulesetName, number[]> = { 'no-table': [], 'zero-policies': [], policies: [] };
  for (let rep = 0; rep < opts.reps; rep++) {
    // Rotate the order each repetition so drift in machine load spreads over all three.
    const order = names.map((_, i) => names[(i + rep) % names.length]!);
    for (const r of order) {
      await install(r);
      gbps[r].push(await iperf(client.name, server.ip, opts.iperfSeconds));
      // Several short windows rather than one long one: the rate swings 2–4× with other tenants'
      // load on this machine, and more pairs make the median ratio steadier.
      for (let w = 0; w < opts.connWindows; w++) {
        const c = await clientAgent.probe({ op: 'connrate', host: server.ip, port: 80, count: 1_000_000, maxMs: opts.connMs });
        conn[r].push(round(((c.done ?? 0) * 1000) / (c.ms ?? opts.connMs)));
      }
    }
  }
  const med = (x: Record<RulesetName, number[]>): Record<RulesetName, number> => ({ 'no-table': median(x['no-table']), 'zero-policies': median(x['zero-policies']), policies: median(x.policies) });
  const mg = med(gbps);
  const mc = med(conn);
  const ratio = (a: number, b: number): number => Math.round((a / b) * 1000) / 1000;
  const paired = (x: Record<RulesetName, number[]>, base: RulesetName): number => ratio(median(x.policies.map((v, i) => v / x[base][i]!)), 1);
  return {
    reps: opts.reps,
    iperfSeconds: opts.iperfSeconds,
    connMs: opts.connMs,
    connWindows: opts.connWindows,
    gbps,
    connPerSec: conn,
    median: { gbps: mg, connPerSec: mc },
    ratio: {
      throughputVsZeroPolicies: ratio(mg.policies, mg['zero-policies']),
      throughputVsNoTable: ratio(mg.policies, mg['no-table']),
      connRateVsZeroPolicies: ratio(mc.policies, mc['zero-policies']),
      connRateVsNoTable: ratio(mc.policies, mc['no-table']),
    },
    pairedRatio: {
      throughputVsZeroPolicies: paired(gbps, 'zero-policies'),
      throughputVsNoTable: paired(gbps, 'no-table'),
      connRateVsZeroPolicies: paired(conn, 'zero-policies'),
      connRateVsNoTable: paired(conn, 'no-table'),
    },
  };
}

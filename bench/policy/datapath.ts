// Datapath measurements between two hand-wired pods: TCP throughput (iperf3, bounded duration)
// and new-connection rate (sequential connects, bounded count and time). Four copies of the same
// node, side by side, each in its own network namespaces with its own client and server pod:
// one with no twill-policy table, two with the table compiled from zero policies (the second is
// an A/A control), one with the 1,000 policies (none selecting the two pods, so they are not
// isolated: this measures what the policy machinery costs them). Each table is installed once;
// the measurements then alternate between the nodes in short windows, so the machine's load
// (other tenants swing the rate 2-4x within seconds here) hits all alike, and no window follows
// a table replacement.
import { run } from '../../src/dataplane/kernel/index.js';
import { compilePolicy, PolicyDataplane, type PolicySnapshot } from '../../src/policy/index.js';
import { Prober, type Topology } from '../../src/policy/testing/topology.js';
import type { TestScope } from '../../test/support/scope.js';
import { waitTcpListening } from '../../test/support/listening.js';
import { median, round } from './control.js';

/** `zero-policies-2` is a second, identical zero-policies node: its ratio to the first is the method's own noise (an A/A control). */
export type RulesetName = 'no-table' | 'zero-policies' | 'zero-policies-2' | 'policies';

export interface DatapathOptions {
  reps: number;
  iperfSeconds: number;
  /** iperf3 runs per node per repetition, alternating between the nodes (paired by position). */
  iperfRuns: number;
  /** One connection-rate window. */
  connMs: number;
  /** Connection-rate windows per node per repetition, alternating between the nodes. */
  connWindows: number;
}

export interface DatapathResult {
  reps: number;
  iperfSeconds: number;
  iperfRuns: number;
  connMs: number;
  connWindows: number;
  gbps: Record<RulesetName, number[]>;
  connPerSec: Record<RulesetName, number[]>;
  median: { gbps: Record<RulesetName, number>; connPerSec: Record<RulesetName, number> };
  /** policies ÷ zero-policies and policies ÷ no-table: the ratio of the medians. */
  ratio: Ratios;
  /**
   * The same, as the median of the per-repetition ratios (each repetition runs all three back to
   * back; connection-rate windows pair by repetition and window).
   */
  pairedRatio: Ratios;
  /**
   * The A/A control: the second zero-policies node ÷ the first, paired the same way. Two identical
   * nodes differ only by noise, so this says how far from 1 a ratio above can stray by chance.
   */
  control: { throughput: number; connRate: number };
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

type Pod = NonNullable<ReturnType<Topology['pods']['get']>>;

interface Side {
  client: Pod;
  server: Pod;
  agent: Prober;
}

export async function measureDatapath(
  scope: TestScope,
  /** Builds one copy of the node with the two pods (called once per ruleset). */
  build: () => Promise<Topology>,
  pods: { client: string; server: string },
  snapshots: { zero: PolicySnapshot; policies: PolicySnapshot },
  opts: DatapathOptions,
): Promise<DatapathResult> {
  const names: RulesetName[] = ['no-table', 'zero-policies', 'zero-policies-2', 'policies'];
  const models = { zero: compilePolicy(snapshots.zero), policies: compilePolicy(snapshots.policies) };
  const sides = {} as Record<RulesetName, Side>;
  for (const r of names) {
    const topo = await build();
    const client = topo.pods.get(pods.client)!;
    const server = topo.pods.get(pods.server)!;
    scope.spawn('ip', ['netns', 'exec', server.name, 'iperf3', '-s', '-p', '5201']);
    await Prober.start(scope, server, { tcp: [80], udp: [] });
    const agent = await Prober.start(scope, client, { tcp: [], udp: [] });
    if (r !== 'no-table') await new PolicyDataplane({ runDir: topo.scratch, netnsPath: topo.node.path }).apply(r === 'policies' ? models.policies : models.zero, { full: true });
    sides[r] = { client, server, agent };
  }
  await Promise.all(names.map((r) => waitTcpListening(sides[r].server.name, 5201)));
  // One warm-up pass per node that is not recorded.
  for (const r of names) await iperf(sides[r].client.name, sides[r].server.ip, 1);
  const empty = (): Record<RulesetName, number[]> => ({ 'no-table': [], 'zero-policies': [], 'zero-policies-2': [], policies: [] });
  const gbps = empty();
  const conn = empty();
  for (let rep = 0; rep < opts.reps; rep++) {
    // Rotate the order each repetition so drift in machine load spreads over all three.
    const order = names.map((_, i) => names[(i + rep) % names.length]!);
    for (let k = 0; k < opts.iperfRuns; k++) {
      for (const r of k % 2 ? [...order].reverse() : order) gbps[r].push(await iperf(sides[r].client.name, sides[r].server.ip, opts.iperfSeconds));
    }
    for (let w = 0; w < opts.connWindows; w++) {
      for (const r of w % 2 ? [...order].reverse() : order) {
        const c = await sides[r].agent.probe({ op: 'connrate', host: sides[r].server.ip, port: 80, count: 1_000_000, maxMs: opts.connMs });
        conn[r].push(round(((c.done ?? 0) * 1000) / (c.ms ?? opts.connMs)));
      }
    }
  }
  const med = (x: Record<RulesetName, number[]>): Record<RulesetName, number> => ({ 'no-table': median(x['no-table']), 'zero-policies': median(x['zero-policies']), 'zero-policies-2': median(x['zero-policies-2']), policies: median(x.policies) });
  const mg = med(gbps);
  const mc = med(conn);
  const ratio = (a: number, b: number): number => Math.round((a / b) * 1000) / 1000;
  const paired = (x: Record<RulesetName, number[]>, base: RulesetName, of: RulesetName = 'policies'): number => ratio(median(x[of].map((v, i) => v / x[base][i]!)), 1);
  return {
    reps: opts.reps,
    iperfSeconds: opts.iperfSeconds,
    connMs: opts.connMs,
    connWindows: opts.connWindows,
    iperfRuns: opts.iperfRuns,
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
    control: {
      throughput: paired(gbps, 'zero-policies', 'zero-policies-2'),
      connRate: paired(conn, 'zero-policies', 'zero-policies-2'),
    },
  };
}

// CNI ADD/DEL latency: Twill (shim + agent) against the reference `bridge` + `host-local`
// plugins, in the same run, on the same machine.
//
// Equivalent config: a Twill node gives its pods an address, a veth, routes to the node and
// outbound NAT for traffic leaving the pod range. The bridge plugin does the same with
// `isGateway: true, ipMasq: true` — that is the `reference` baseline the floor is checked
// against. `reference-nomasq` (no outbound NAT) is measured too, so the cost of the bridge
// plugin's per-pod iptables rules is visible rather than hidden. When bin/twill-cni is the
// Bun-compiled shim, `twill-node-shim` (the Node bundle it is compiled from, same agent) runs too.
//   node --import tsx bench/cni/main.ts [--pods 100] [--concurrency 20] [--rounds 2] [--warmup 5]
// Prints one JSON object. Each round runs, for each plugin: 100 ADDs one after another, 100 DELs
// one after another, then 100 ADDs 20 at a time and 100 DELs 20 at a time; plugins alternate
// within a round so background load hits both alike. Before the rounds, each plugin ADDs and DELs
// 5 pods that are not measured (warm-up). After each sequential pass, 100 VERSION calls measure
// what a plugin process costs with nothing to do (Twill: its runtime's start and exit).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { run } from '../../src/dataplane/kernel/exec.js';
import { createNetns, deleteNetns, netnsPath } from '../../src/dataplane/kernel/netns.js';
import { agentSocket, startNodeAgent, stopNodeAgent } from '../../src/lab/node-agent.js';
import { nodeShimBundle, projectRoot, shimRuntime } from '../../src/util/paths.js';
import { TestScope, uniqueName } from '../../test/support/scope.js';

const { values: args } = parseArgs({
  options: {
    pods: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '5' },
  },
});
const PODS = Number(args.pods);
const CONC = Number(args.concurrency);
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);

interface Side {
  name: string;
  nodeNetns: string;
  plugin: string;
  conf: Record<string, unknown>;
}

function stats(xs: number[]): { p50: number; p99: number; mean: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  const r = (x: number) => Math.round(x * 100) / 100;
  return { p50: r(q(0.5)), p99: r(q(0.99)), mean: r(s.reduce((a, b) => a + b, 0) / s.length), n: s.length };
}

/** `n` fresh pod namespaces (removed at cleanup, if the caller has not removed them before). */
async function sandboxes(scope: TestScope, n: number, prefix: string, tag: string): Promise<{ containerId: string; netns: string }[]> {
  const pods = [];
  for (let i = 0; i < n; i++) {
    const name = uniqueName(prefix);
    await createNetns(name);
    scope.defer(() => deleteNetns(name));
    pods.push({ containerId: `${name}-${tag}`, netns: netnsPath(name) });
  }
  return pods;
}

async function timed(scope: TestScope, side: Side, pods: { containerId: string; netns: string }[], command: 'ADD' | 'DEL' | 'VERSION', concurrency: number): Promise<number[]> {
  const dir = await scope.tmpdir('twill-bench-job-');
  const file = join(dir, 'job.json');
  await writeFile(file, JSON.stringify({ plugin: side.plugin, cniPath: '/usr/lib/cni', conf: side.conf, pods, command, concurrency }));
  const { stdout } = await run('ip', ['netns', 'exec', side.nodeNetns, process.execPath, '--import', 'tsx', join(projectRoot(), 'bench/cni/driver.ts'), file], { timeoutMs: 600_000, cwd: projectRoot() });
  return JSON.parse(stdout) as number[];
}

async function main(): Promise<void> {
  const scope = new TestScope();
  try {
    const twillNode = (await scope.netns('twb-t-')).name;
    const refNode = (await scope.netns('twb-r-')).name;
    const refNode2 = (await scope.netns('twb-q-')).name;
    for (const n of [twillNode, refNode, refNode2]) await run('ip', ['-n', n, 'addr', 'add', '192.0.2.10/32', 'dev', 'lo']);
    const agentDir = await scope.tmpdir('twill-bench-agent-');
    scope.defer(() => stopNodeAgent(agentDir));
    await startNodeAgent({ nodeName: 'bench', netns: twillNode, dir: agentDir, args: ['--pod-cidr', '10.244.0.0/22', '--mtu', '1500'] });
    const hostLocalDir = await scope.tmpdir('twill-bench-hl-');
    const twillConf = { cniVersion: '1.0.0', name: 'bench', type: 'twill-cni', agentSocket: agentSocket(agentDir) };
    const sides: Side[] = [
      { name: 'twill', nodeNetns: twillNode, plugin: join(projectRoot(), 'bin/twill-cni'), conf: twillConf },
      {
        name: 'reference',
        nodeNetns: refNode,
        plugin: '/usr/lib/cni/bridge',
        conf: {
          cniVersion: '1.0.0', name: 'bench', type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true, mtu: 1500,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.245.0.0/22' }]], dataDir: hostLocalDir },
        },
      },
      {
        name: 'reference-nomasq',
        nodeNetns: refNode2,
        plugin: '/usr/lib/cni/bridge',
        conf: {
          cniVersion: '1.0.0', name: 'bench2', type: 'bridge', bridge: 'cni1', isGateway: true, ipMasq: false, mtu: 1500,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.246.0.0/22' }]], dataDir: hostLocalDir },
        },
      },
    ];
    // When bin/twill-cni is the Bun-compiled shim, the Node bundle it is made from runs too (same
    // agent), so the run shows what the compiled shim buys.
    const runtime = shimRuntime();
    if (runtime !== 'node') sides.push({ name: 'twill-node-shim', nodeNetns: twillNode, plugin: nodeShimBundle(), conf: twillConf });
    // Warm-up, not measured: the agent's first requests run cold code, and the reference's first
    // ADD creates its bridge and iptables chain.
    for (const side of sides) {
      const pods = await sandboxes(scope, WARMUP, 'twb-w-', 'warm');
      await timed(scope, side, pods, 'ADD', 1);
      await timed(scope, side, pods, 'DEL', 1);
      for (const p of pods) await deleteNetns(p.netns.split('/').pop()!);
    }
    const agentLog = await readFile(join(agentDir, 'agent.log'), 'utf8').catch(() => '');
    const podNetns = /podNetns=(\S+)/.exec(agentLog)?.[1] ?? 'unknown';
    const samples: Record<string, Record<string, number[]>> = {};
    for (const s of sides) samples[s.name] = { seqAdd: [], seqDel: [], seqVersion: [], concAdd: [], concDel: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['seq', 'conc'] as const) {
        const order = sides.map((_, i) => sides[(i + round) % sides.length]!);
        for (const side of order) {
          const pods = await sandboxes(scope, PODS, 'twb-p-', String(round));
          const conc = mode === 'seq' ? 1 : CONC;
          samples[side.name]![`${mode}Add`]!.push(...(await timed(scope, side, pods, 'ADD', conc)));
          samples[side.name]![`${mode}Del`]!.push(...(await timed(scope, side, pods, 'DEL', conc)));
          if (mode === 'seq') samples[side.name]!['seqVersion']!.push(...(await timed(scope, side, pods, 'VERSION', 1)));
          for (const p of pods) await deleteNetns(p.netns.split('/').pop()!);
          process.stderr.write(`bench/cni: round ${round + 1}/${ROUNDS} ${mode} ${side.name} done\n`);
        }
      }
    }
    const out: Record<string, unknown> = {};
    for (const s of sides) {
      const m = samples[s.name]!;
      out[s.name] = {
        sequential: { add: stats(m['seqAdd']!), del: stats(m['seqDel']!), version: stats(m['seqVersion']!) },
        concurrent: { concurrency: CONC, add: stats(m['concAdd']!), del: stats(m['concDel']!) },
      };
    }
    type Timings = { sequential: { add: { p50: number }; del: { p50: number } }; concurrent: { add: { p50: number }; del: { p50: number } } };
    const t = out['twill'] as Timings;
    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    const ratiosTo = (r: Timings) => ({
      sequentialAddP50: ratio(t.sequential.add.p50, r.sequential.add.p50),
      sequentialDelP50: ratio(t.sequential.del.p50, r.sequential.del.p50),
      concurrentAddP50: ratio(t.concurrent.add.p50, r.concurrent.add.p50),
      concurrentDelP50: ratio(t.concurrent.del.p50, r.concurrent.del.p50),
    });
    const ratios = ratiosTo(out['reference'] as Timings);
    const ratiosNoMasq = ratiosTo(out['reference-nomasq'] as Timings);
    const nodeShim = out['twill-node-shim'] as Timings | undefined;
    const result = {
      benchmark: 'cni',
      baseline: 'reference: bridge + host-local (containernetworking-plugins, Debian) with isGateway and ipMasq, the equivalent of a Twill node with outbound NAT',
      pods: PODS,
      rounds: ROUNDS,
      warmup: WARMUP,
      twillPodNetns: podNetns,
      twillShim: runtime,
      unit: 'ms',
      ...out,
      ratios,
      ratiosToNoMasq: ratiosNoMasq,
      ...(nodeShim ? { nodeShimRatios: { sequentialAddP50: ratio(nodeShim.sequential.add.p50, (out['reference'] as Timings).sequential.add.p50), sequentialDelP50: ratio(nodeShim.sequential.del.p50, (out['reference'] as Timings).sequential.del.p50) } } : {}),
      note: 'ratio = twill / reference; below 1 means Twill is faster. sequential.version is CNI VERSION: the plugin process starting and exiting, with no kernel work and no agent (for Twill: the shim\'s runtime starting, the shim, exit)',
      floor: {
        rule: 'twill ADD p50 and DEL p50 <= reference, sequentially and 20-way concurrent',
        met: ratios.sequentialAddP50 <= 1 && ratios.sequentialDelP50 <= 1,
        metConcurrent: ratios.concurrentAddP50 <= 1 && ratios.concurrentDelP50 <= 1,
      },
      loadavg: loadavg(),
    };
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } finally {
    await scope.cleanup();
  }
}

await main();

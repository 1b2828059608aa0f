// What one new connection costs with flow records on, measured directly rather than as a rate
// ratio (which this shared machine's load swamps): one 2-node lab, connections at a fixed rate,
// and per connection (a) the CPU time of both agents (/proc/PID/stat), (b) the conntrack events
// each node's namespace generates, by kind (`conntrack -E`, a second listener), and (c) with
// --perf, a `perf record` of both agents during the load.
//   node --import tsx bench/flows/cost.ts [--rate N] [--seconds S] [--perf FILE] [--profile DIR] [--off] [--untagged] [--keep]
// --untagged: the twill-flows table deleted and nf_conntrack_events back at 2 on both nodes after
// start (every connection makes events, as before ct-events.ts). TWILL_CT_READ=callback in the
// environment: the agents read conntrack events one callback per event (as before nl-poll.ts).
// --ab N: N rounds of 1 s full-speed windows alternating recording on / no events / no events
// nor accounting, in the same lab (the kernel's share of the cost).
// Prints one JSON object; progress on stderr. --off: agents with --no-flow-records. --profile:
// node-2's agent runs with --cpu-prof into DIR (profile-summary.mjs reads it).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/dataplane/kernel/exec.js';
import { netnsPath } from '../../src/dataplane/kernel/netns.js';
import { applyDocs, ensureDefaultNamespace } from '../../src/lab/apply.js';
import { LabKubelet } from '../../src/lab/kubelet.js';
import { LAB_DEFAULTS, Lab } from '../../src/lab/lab.js';
import { loadManifests } from '../../src/lab/manifest.js';
import { nodeDir } from '../../src/lab/state.js';
import { agentCpuTicks, agentPid, podsManifest } from './lab-agents.js';

const argAfter = (flag: string): string | undefined => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const RATE = Number(argAfter('--rate') ?? 2000);
const SECONDS = Number(argAfter('--seconds') ?? 5);
const PERF = argAfter('--perf');
const OFF = process.argv.includes('--off');
const PROFILE = argAfter('--profile');
const NAME = 'flcost';
const LOAD = fileURLToPath(new URL('./conn-load.mjs', import.meta.url));
const log = (m: string): boolean => process.stderr.write(`[bench/flows/cost] ${m}\n`);
const quiet = (): void => undefined;

const MANIFEST = podsManifest([80]);

const cpuTicks = (node: string): Promise<number> => agentCpuTicks(NAME, node);

/** `conntrack -E` in a node's namespace for the duration of `during`: events by kind and whether a pod address is in them. */
async function census<T>(netns: string, during: () => Promise<T>): Promise<{ result: T; events: Record<string, number> }> {
  const p = spawn('nsenter', [`--net=${netnsPath(netns)}`, 'conntrack', '-E', '-e', 'ALL'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const events: Record<string, number> = {};
  let rest = '';
  p.stdout.on('data', (b: Buffer) => {
    const lines = (rest + b.toString()).split('\n');
    rest = lines.pop()!;
    for (const l of lines) {
      const kind = /^\s*\[(\w+)\]/.exec(l)?.[1] ?? '?';
      const what = l.includes('10.244.') ? 'pod' : /dport=4789|sport=4789/.test(l) ? 'vxlan' : 'other';
      events[`${kind} ${what}`] = (events[`${kind} ${what}`] ?? 0) + 1;
    }
  });
  await new Promise((r) => setTimeout(r, 500));
  const result = await during();
  await new Promise((r) => setTimeout(r, 1000));
  p.kill('SIGTERM');
  return { result, events };
}

async function main(): Promise<void> {
  await Lab.down(NAME, quiet);
  const lab = await Lab.up({ ...LAB_DEFAULTS, name: NAME, nodes: 2, ...(OFF ? { agentFlags: ['--no-flow-records'] } : {}) }, quiet);
  try {
    await ensureDefaultNamespace(await lab.store());
    const file = join(nodeDir(NAME, 'node-1'), 'cost.yaml');
    await run('sh', ['-c', `cat > ${file} <<'EOF'\n${MANIFEST}EOF`]);
    await applyDocs(lab, await loadManifests([file]), quiet);
    const k = new LabKubelet(lab);
    const src = (await k.record('default', 'src'))!;
    const dst = (await k.record('default', 'dst'))!;
    await run('nsenter', [`--net=${netnsPath(src.netns)}`, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse; echo "1024 65535" > /proc/sys/net/ipv4/ip_local_port_range']);
    const load = async (seconds: number, rate: number): Promise<{ connected: number; seconds: number }> => {
      const { stdout } = await run('nsenter', [`--net=${netnsPath(src.netns)}`, process.execPath, LOAD, dst.ip, '80', String(seconds), String(rate)]);
      return JSON.parse(stdout) as { connected: number; seconds: number };
    };
    const nodeFlags = [...(PERF ? ['--perf-basic-prof-only-functions'] : []), ...(argAfter('--node-flags')?.split(' ') ?? [])];
    if (nodeFlags.length) {
      // --perf: JIT code named in perf's report (/tmp/perf-PID.map); --node-flags: e.g. --trace-gc (agent.log).
      for (const n of ['node-1', 'node-2']) {
        await lab.stopAgent(n);
        await lab.startAgent(n, nodeFlags);
      }
    }
    if (PROFILE) {
      await lab.stopAgent('node-2');
      await lab.startAgent('node-2', ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`]);
    }
    if (process.argv.includes('--untagged')) {
      for (const n of lab.state.nodes) await run('nsenter', [`--net=${netnsPath(n.netns)}`, 'sh', '-c', 'nft delete table inet twill-flows; echo 2 > /proc/sys/net/netfilter/nf_conntrack_events']);
    }
    const ab = Number(argAfter('--ab') ?? 0);
    if (ab > 0) {
      // The kernel's share, in one lab: 1 s windows at full speed, alternating between the
      // recording as it is, no conntrack events at all (table gone, sysctl 0: the agents idle),
      // and no events, accounting or timestamps either. Median connections/s of each.
      const both = (cmd: string): Promise<unknown> => Promise.all(lab.state.nodes.map((n) => run('nsenter', [`--net=${netnsPath(n.netns)}`, 'sh', '-c', cmd])));
      const tableFile = (n: string): string => join(nodeDir(NAME, n), 'run', 'nft', 'twill-flows.nft');
      const configs: Record<string, () => Promise<unknown>> = {
        on: () => Promise.all(lab.state.nodes.map((n) => run('nsenter', [`--net=${netnsPath(n.netns)}`, 'sh', '-c', `nft -f ${tableFile(n.name)}; echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct; echo 1 > /proc/sys/net/netfilter/nf_conntrack_timestamp`]))),
        noEvents: () => both('nft delete table inet twill-flows 2>/dev/null; echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct; echo 1 > /proc/sys/net/netfilter/nf_conntrack_timestamp'),
        noEventsNoAcct: () => both('nft delete table inet twill-flows 2>/dev/null; echo 0 > /proc/sys/net/netfilter/nf_conntrack_acct; echo 0 > /proc/sys/net/netfilter/nf_conntrack_timestamp'),
      };
      const rates: Record<string, number[]> = { on: [], noEvents: [], noEventsNoAcct: [] };
      await load(2, 0);
      for (let i = 0; i < ab; i++) {
        const names = Object.keys(configs);
        for (const c of [...names.slice(i % 3), ...names.slice(0, i % 3)]) {
          await configs[c]!();
          const l = await load(1, 0);
          rates[c]!.push(l.connected / l.seconds);
        }
      }
      await configs['on']!();
      const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      process.stdout.write(`${JSON.stringify({ ab, medianPerSecond: Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, Math.round(med(v))])), onOverNoEvents: med(rates['on']!.map((x, i) => x / rates['noEvents']![i]!)), onOverNoAcct: med(rates['on']!.map((x, i) => x / rates['noEventsNoAcct']![i]!)), noEventsOverNoAcct: med(rates['noEvents']!.map((x, i) => x / rates['noEventsNoAcct']![i]!)), load1: Math.round(loadavg()[0]! * 100) / 100 })}\n`);
      return;
    }
    log('warm-up: 3 s');
    await load(3, RATE);
    const nodes = lab.state.nodes.map((n) => n.name);
    const t0 = await Promise.all(nodes.map(cpuTicks));
    let perf: ReturnType<typeof spawn> | undefined;
    // --perf: the two agents only (every thread), with call graphs.
    const pids = await Promise.all(nodes.map((n) => agentPid(NAME, n)));
    if (PERF) perf = spawn('perf', ['record', '-g', '-p', pids.join(','), '-o', PERF, '--', 'sleep', String(SECONDS + 0.5)], { stdio: 'ignore' });
    const l = await load(SECONDS, RATE);
    const t1 = await Promise.all(nodes.map(cpuTicks));
    if (perf) await new Promise((r) => perf.once('exit', r));
    log('event census: 2 s at the same rate, conntrack -E on each node');
    const c1 = await census(lab.node('node-1').netns, async () => census(lab.node('node-2').netns, () => load(2, RATE)));
    const out = {
      records: !OFF,
      untagged: process.argv.includes('--untagged'),
      read: process.env['TWILL_CT_READ'] ?? 'poll',
      agentPids: pids,
      rate: RATE,
      connected: l.connected,
      perSecond: Math.round(l.connected / l.seconds),
      agentCpuUsPerConnection: Object.fromEntries(nodes.map((n, i) => [n, Math.round(((t1[i]! - t0[i]!) * 10_000) / l.connected)])),
      censusConnected: c1.result.result.connected,
      eventsNode1: c1.events,
      eventsNode2: c1.result.events,
      load1: Math.round(loadavg()[0]! * 100) / 100,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    if (PROFILE) await lab.stopAgent('node-2');
    if (argAfter('--node-flags')) process.stderr.write(await readFile(join(nodeDir(NAME, 'node-2'), 'agent.log'), 'utf8').then((t) => t.split('\n').filter((l) => /Mark-Compact|Scavenge|conntrack/.test(l)).slice(-40).join('\n') + '\n'));
    if (process.argv.includes('--keep')) return;
  } finally {
    if (!process.argv.includes('--keep')) await Lab.down(NAME, quiet);
  }
}

await main();

// Kernel test (root): real namespaces, veths and the compiled ruleset; real TCP, UDP and ICMP
// probes must agree with the evaluator for every scenario; incremental updates must leave the
// kernel exactly where a full apply would; a refused ruleset must leave the old one in force;
// a pod sending from another pod's address must be dropped.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { nftListJson } from '../dataplane/kernel/nft.js';
import { runInNetns } from '../dataplane/kernel/exec.js';
import { TestScope } from '../../test/support/scope.js';
import { PolicyDataplane } from './apply.js';
import { compilePolicy } from './compile.js';
import { evaluate, type Flow, type FlowEnd } from './evaluate.js';
import type { PolicyModel } from './model.js';
import { EXTERNAL_IP, kernelSnapshot, LOCAL_PODS, OUTSIDE_IP, POD_TCP, POD_UDP, REMOTE_DNS, SCENARIOS } from './testing/kernel-scenarios.js';
import { buildTopology, Prober, type ProbeReq, type Topology } from './testing/topology.js';
import { ifaceOf } from './testing/world.js';

const TABLE = 'twill-policy';
const scope = new TestScope();
let topo: Topology;
let dp: PolicyDataplane;
const probers = new Map<string, Prober>();
let localPort = 20_000;

before(async () => {
  topo = await buildTopology(
    scope,
    LOCAL_PODS.map((p) => ({ key: `${p.namespace}/${p.name}`, ip: p.ips[0]!, iface: ifaceOf(p) })),
    { ip: OUTSIDE_IP, extraIps: [REMOTE_DNS.ips[0]!, EXTERNAL_IP], routes: ['10.244.2.0/24', '198.51.100.0/24'] },
  );
  dp = new PolicyDataplane({ runDir: topo.scratch, netnsPath: topo.node.path });
  const starts: Promise<void>[] = [...topo.pods.entries()].map(async ([key, ns]) => void probers.set(key, await Prober.start(scope, ns, { tcp: POD_TCP, udp: POD_UDP })));
  starts.push((async () => void probers.set('outside', await Prober.start(scope, topo.outside, { tcp: [80], udp: [53], bind: [OUTSIDE_IP, REMOTE_DNS.ips[0]!, EXTERNAL_IP] })))());
  starts.push((async () => void probers.set('node', await Prober.start(scope, topo.node, { tcp: [10250], udp: [] })))());
  await Promise.all(starts);
});

after(async () => {
  dp?.close();
  await scope.cleanup();
});

/** A probe end: who sends (which agent, from which address) or what is reached. */
interface End {
  end: FlowEnd;
  agent: string;
  ip: string;
  local?: string;
}

const podEnd = (key: string, ip: string): End => ({ end: { pod: key }, agent: key, ip });
const ENDS: End[] = [
  ...LOCAL_PODS.map((p) => podEnd(`${p.namespace}/${p.name}`, p.ips[0]!)),
  { end: { pod: 'kube-system/dns' }, agent: 'outside', ip: REMOTE_DNS.ips[0]!, local: REMOTE_DNS.ips[0]! },
  { end: { ip: EXTERNAL_IP }, agent: 'outside', ip: EXTERNAL_IP, local: EXTERNAL_IP },
  { end: { node: 'n1', ip: '192.0.2.1' }, agent: 'node', ip: '192.0.2.1' },
];

interface Probe {
  agent: string;
  req: ProbeReq;
  flow: Flow;
  what: string;
}

function probesFor(): Probe[] {
  const out: Probe[] = [];
  for (const src of ENDS) {
    for (const dst of ENDS) {
      if (src === dst || (src.agent !== 'node' && src.agent === dst.agent) || src.agent === 'outside' && dst.agent === 'outside') continue;
      if (src.agent === 'node' && dst.agent === 'outside') continue; // the node's own traffic to the world: no pod involved
      const targets: { proto: 'TCP' | 'UDP' | 'ICMP'; port: number }[] =
        dst.agent === 'node' ? [{ proto: 'TCP', port: 10250 }] : dst.agent === 'outside' ? [{ proto: 'TCP', port: 80 }, { proto: 'UDP', port: 53 }] : [...POD_TCP.map((port) => ({ proto: 'TCP' as const, port })), ...POD_UDP.map((port) => ({ proto: 'UDP' as const, port }))];
      if (src.agent.startsWith('shop/') && dst.agent.startsWith('shop/')) targets.push({ proto: 'ICMP', port: 0 });
      for (const t of targets) {
        const base = { host: dst.ip, timeoutMs: 700 };
        const from = src.local ? { localAddress: src.local } : {};
        const req: ProbeReq =
          t.proto === 'TCP' ? { op: 'tcp', ...base, port: t.port, localPort: localPort++, ...from } : t.proto === 'UDP' ? { op: 'udp', ...base, port: t.port, localPort: localPort++, payload: 'probe', ...from } : { op: 'ping', host: dst.ip, timeoutMs: 1000 };
        out.push({ agent: src.agent, req, flow: { src: src.end, dst: dst.end, protocol: t.proto, ...(t.proto === 'ICMP' ? {} : { port: t.port }) }, what: `${src.ip} → ${dst.ip} ${t.proto}${t.proto === 'ICMP' ? '' : '/' + t.port}` });
      }
    }
  }
  return out;
}

/** Runs every probe concurrently; a failed probe that should pass is retried once, slowly. */
async function runProbes(probes: Probe[], want: (p: Probe) => boolean): Promise<string[]> {
  const got = await Promise.all(probes.map((p) => probers.get(p.agent)!.probe(p.req)));
  const wrong: string[] = [];
  await Promise.all(
    probes.map(async (p, i) => {
      let ok = got[i]!.ok;
      if (!ok && want(p)) ok = (await probers.get(p.agent)!.probe({ ...p.req, ...('localPort' in p.req ? { localPort: localPort++ } : {}), timeoutMs: 2500 } as ProbeReq)).ok;
      if (ok !== want(p)) wrong.push(`${p.what}: kernel ${ok ? 'allowed' : 'dropped'}, evaluator ${want(p) ? 'allows' : 'denies'}`);
    }),
  );
  return wrong;
}

/** `nft -j list table`, without handles and counter values, objects sorted, rules in order. */
async function kernelState(): Promise<string> {
  const json = (await nftListJson(['table', 'inet', TABLE], { netnsPath: topo.node.path })) as { nftables: Record<string, Record<string, unknown>>[] };
  const seq = new Map<string, number>();
  const items = json.nftables
    .filter((o) => !('metainfo' in o))
    .map((o) => {
      const [kind, body] = Object.entries(o)[0]!;
      const b = { ...body };
      delete b['handle'];
      if (kind === 'counter') {
        delete b['packets'];
        delete b['bytes'];
      }
      if (Array.isArray(b['elem'])) b['elem'] = (b['elem'] as unknown[]).map((e) => JSON.stringify(e)).sort();
      const text = JSON.stringify(b, (k, v: unknown) => (k === 'counter' && typeof v === 'object' && v !== null && 'packets' in v ? 'anon' : v));
      const chain = String(b['chain'] ?? '');
      const n = kind === 'rule' ? (seq.get(chain) ?? 0) : 0;
      if (kind === 'rule') seq.set(chain, n + 1);
      return `${kind} ${String(b['name'] ?? chain)} ${String(n).padStart(4, '0')} ${text}`;
    });
  return items.sort().join('\n');
}

test('real probes agree with the evaluator across incremental updates; diffs equal a full apply', async () => {
  let model: PolicyModel;
  const tally = { allowed: 0, denied: 0 };
  for (const [i, sc] of SCENARIOS.entries()) {
    const snap = kernelSnapshot(sc.policies);
    model = compilePolicy(snap);
    const r = await dp.apply(model);
    assert.equal(r.mode, i === 0 ? 'full' : 'incremental', sc.name);
    if (i > 0) assert.equal(r.via, 'netlink', `scenario "${sc.name}": incremental updates go as netlink batches (${r.fallback ?? ''})`);
    const probes = probesFor();
    const wrong = await runProbes(probes, (p) => {
      const allowed = evaluate(snap, p.flow).allowed;
      tally[allowed ? 'allowed' : 'denied']++;
      return allowed;
    });
    assert.deepEqual(wrong, [], `scenario "${sc.name}": ${wrong.length} of ${probes.length} probes disagree`);
    const afterDiffs = await kernelState();
    assert.equal((await dp.apply(model, { full: true })).mode, 'full');
    assert.equal(await kernelState(), afterDiffs, `scenario "${sc.name}": the table after incremental updates differs from a full apply`);
  }
  assert.ok(tally.allowed > 100 && tally.denied > 100, `probes must exercise both outcomes: ${JSON.stringify(tally)}`);
});

test('counters credit allowed packets to the deciding policy and drops to the isolating ones', async () => {
  const snap = kernelSnapshot(SCENARIOS[1]!.policies);
  await dp.apply(compilePolicy(snap), { full: true });
  const web = probers.get('shop/web')!;
  assert.equal((await web.probe({ op: 'tcp', host: '10.244.1.20', port: 80, timeoutMs: 2000, localPort: localPort++ })).ok, true);
  assert.equal((await web.probe({ op: 'tcp', host: '10.244.1.30', port: 5432, timeoutMs: 500, localPort: localPort++ })).ok, false);
  const c = await dp.counters();
  const get = (p: string) => c.policies.find((x) => x.policy === p)!;
  assert.ok(get('shop/api-in').ingressAllowed.packets >= 1, JSON.stringify(c));
  assert.ok(get('shop/db-in').ingressDropped.packets >= 1, JSON.stringify(c));
  assert.ok(get('shop/default-deny').ingressDropped.packets >= 1);
});

test('a ruleset the kernel refuses (netlink batch or nft -f) leaves the previous one in force, and the next apply is full', async () => {
  const viaNft = new PolicyDataplane({ runDir: topo.scratch, netnsPath: topo.node.path, netlink: false });
  for (const [who, d] of [['the kernel', dp], ['nft', viaNft]] as const) {
    const good = compilePolicy(kernelSnapshot(SCENARIOS[1]!.policies));
    await d.apply(good, { full: true });
    const before = await kernelState();
    const next = compilePolicy(kernelSnapshot(SCENARIOS[3]!.policies));
    const bad: PolicyModel = { ...next, sets: next.sets.map((s, i) => (i === next.sets.findIndex((x) => x.flags.includes('interval')) ? { ...s, elements: [...s.elements, { key: '203.0.113.1 . tcp . 1', value: 'goto pe_missing' }] } : s)) };
    await assert.rejects(d.apply(bad), new RegExp(`${who} refused the incremental update.*previous ruleset is still in force`));
    assert.equal(await kernelState(), before, `${who}: nothing of the refused transaction was applied`);
    const web = probers.get('shop/web')!;
    assert.equal((await web.probe({ op: 'tcp', host: '10.244.1.20', port: 80, timeoutMs: 2000, localPort: localPort++ })).ok, true, `${who}: the old policy still allows web → api`);
    assert.equal((await d.apply(next)).mode, 'full');
  }
  dp.forget();
});

test('anti-spoofing drops a packet sent from another pod’s address', async () => {
  await dp.apply(compilePolicy(kernelSnapshot([])), { full: true });
  const web = topo.pods.get('shop/web')!;
  // What a pod with NET_ADMIN could do: claim api's address on its own interface.
  await runInNetns(web.path, 'ip', ['addr', 'add', '10.244.1.20/32', 'dev', 'eth0']);
  const p = probers.get('shop/web')!;
  const nonce = Math.random().toString(36).slice(2);
  const real = await p.probe({ op: 'udp', host: '10.244.1.30', port: 53, timeoutMs: 2000, payload: `real-${nonce}`, localPort: localPort++ });
  const spoofed = await p.probe({ op: 'udp', host: '10.244.1.30', port: 53, timeoutMs: 700, payload: `spoof-${nonce}`, localPort: localPort++, localAddress: '10.244.1.20' });
  assert.equal(real.ok, true, 'the control packet from the pod’s own address arrives');
  assert.equal(spoofed.ok, false);
  const log = (await probers.get('shop/db')!.probe({ op: 'log' })).log ?? [];
  assert.ok(log.includes(`real-${nonce}`));
  assert.ok(!log.includes(`spoof-${nonce}`), 'the spoofed datagram never reached db');
  assert.ok((await dp.counters()).spoofed.packets >= 1);
});

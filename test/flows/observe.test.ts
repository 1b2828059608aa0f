// Flow records end to end in a 2-node lab: a denied connection shows up in `twill observe -f`
// (the real CLI, following every node) with the policy that isolated the pod, within 2 s; the
// records name exactly the pods and policies `policy explain` names; a connection's end carries
// its packet and byte counts; lost-event counters are reported.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { agentRequest } from '../../src/cli/client.js';
import { run } from '../../src/dataplane/kernel/exec.js';
import { netnsPath } from '../../src/dataplane/kernel/netns.js';
import type { FlowRecord, FlowStats } from '../../src/flows/index.js';
import type { Lab } from '../../src/lab/lab.js';
import { probeFrom } from '../../src/lab/pod-sandbox.js';
import { podDir } from '../../src/lab/state.js';
import type { Verdict } from '../../src/policy/index.js';
import { twillBin } from '../../src/util/paths.js';
import { TestScope } from '../support/scope.js';
import { applyYaml, podYaml, upLab } from '../support/lab.js';

const NAME = 'flobs';
const scope = new TestScope();
let lab: Lab;
let ip: Record<string, string>;

const POLICY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: db-from-web, namespace: shop }
spec:
  podSelector: { matchLabels: { app: db } }
  ingress:
  - from: [{ podSelector: { matchLabels: { app: web } } }]
    ports: [{ port: 5432 }]
`;

before(async () => {
  lab = await upLab(scope, NAME, { nodes: 2 });
  await applyYaml(scope, lab, 'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n---\n' + podYaml('shop', 'web', 'node-1', [80]) + podYaml('shop', 'db', 'node-2', [80, 5432]) + POLICY);
  const st = await lab.agentStatus('node-2');
  assert.ok(st);
  ip = {};
  for (const n of ['node-1', 'node-2']) {
    const s = (await lab.agentStatus(n)) as unknown as { attachments: { pod?: string; ips: string[] }[] };
    for (const a of s.attachments) if (a.pod) ip[a.pod] = a.ips[0]!;
  }
  assert.ok(ip['shop/web'] && ip['shop/db'], JSON.stringify(ip));
});
after(() => scope.cleanup());

const connect = (from: string, to: string, port: number, timeoutMs = 300) =>
  probeFrom(podDir(NAME, 'shop', from), [{ ip: ip[`shop/${to}`]!, port, protocol: 'tcp', timeoutMs }]).then((r) => r[0]!);

/** `twill observe --lab NAME -f -o json …` as a child process; lines as parsed records. */
function follow(args: string[]): { proc: ChildProcess; next: (pred: (r: FlowRecord) => boolean, ms: number) => Promise<FlowRecord> } {
  // --since: flows recorded while the CLI was still starting are printed from the agents' rings.
  const since = new Date(Date.now() - 1000).toISOString();
  const proc = spawn(process.execPath, [twillBin(), 'observe', '--lab', NAME, '-f', '-o', 'json', '--since', since, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  scope.defer(() => void proc.kill('SIGTERM'));
  const seen: FlowRecord[] = [];
  const wakers = new Set<() => void>();
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    seen.push(JSON.parse(l) as FlowRecord);
    for (const w of wakers) w();
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const next = (pred: (r: FlowRecord) => boolean, ms: number): Promise<FlowRecord> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = seen.find(pred);
        if (hit) {
          clearTimeout(t);
          wakers.delete(w);
          resolve(hit);
        }
        return !!hit;
      };
      const w = (): void => void check();
      const t = setTimeout(() => {
        wakers.delete(w);
        reject(new Error(`no matching record within ${ms} ms; saw ${seen.length}: ${seen.map((r) => r.Summary).join(' | ')}; stderr: ${err}`));
      }, ms);
      if (!check()) wakers.add(w);
    });
  return { proc, next };
}

test('a denied connection appears in observe -f with the isolating policy within 2 s, as policy explain says', async () => {
  const f = follow(['--verdict', 'DROPPED', '--to', 'shop/db']);
  await new Promise((r) => setTimeout(r, 1500)); // the CLI is up (records made before are printed anyway: --since)
  const t0 = Date.now();
  const res = await connect('web', 'db', 80);
  assert.equal(res.connected, false, 'port 80 of db is not allowed from web');
  const rec = await f.next((r) => r.verdict === 'DROPPED' && r.l4.TCP?.destination_port === 80, 2000);
  const latency = Date.now() - t0;
  console.log(`denied connection in observe -f after ${latency} ms`);
  assert.ok(latency <= 2000);
  assert.equal(rec.node_name, 'node-2');
  assert.equal(rec.traffic_direction, 'INGRESS');
  assert.equal(rec.drop_reason, 'POLICY_DENIED');
  assert.match(rec.kernel_rule ?? '', /^twill D in_[0-9a-f]{12}$/);
  const v = (await agentRequest<{ verdict: Verdict }>(lab.socket('node-1'), 'POST', '/v1/policy/explain', { from: 'shop/web', to: 'shop/db', port: 80, protocol: 'tcp' })).verdict;
  assert.equal(v.allowed, false);
  assert.equal(`${rec.source.namespace}/${rec.source.pod_name}`, v.src.kind === 'pod' ? v.src.pod : undefined);
  assert.equal(`${rec.destination.namespace}/${rec.destination.pod_name}`, v.dst.kind === 'pod' ? v.dst.pod : undefined);
  assert.deepEqual(rec.policies.filter((p) => p.direction === 'ingress').map((p) => `${p.namespace}/${p.name}`), v.ingress.policies);
  assert.deepEqual(rec.policies.filter((p) => p.direction === 'ingress').map((p) => p.action), ['deny']);
  assert.deepEqual(rec.destination.labels, ['app=db']);
});

test('an allowed connection: a record on each node naming the deciding rule as explain does, and its end with counts', async () => {
  const f = follow(['--from', 'shop/web', '--port', '5432']);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await connect('web', 'db', 5432)).connected, true);
  // (No latency floor here: the denied case above measures it; a loaded machine may start the CLI slowly.)
  const onDst = await f.next((r) => r.event === 'new' && r.node_name === 'node-2', 8000);
  const onSrc = await f.next((r) => r.event === 'new' && r.node_name === 'node-1', 8000);
  assert.equal(onSrc.traffic_direction, 'EGRESS');
  assert.equal(onDst.traffic_direction, 'INGRESS');
  const v = (await agentRequest<{ verdict: Verdict }>(lab.socket('node-1'), 'POST', '/v1/policy/explain', { from: 'shop/web', to: 'shop/db', port: 5432, protocol: 'tcp' })).verdict;
  assert.equal(v.ingress.deciding?.policy, 'shop/db-from-web');
  for (const r of [onSrc, onDst]) {
    assert.equal(r.verdict, 'FORWARDED');
    assert.deepEqual(r.policies, [{ namespace: 'shop', name: 'db-from-web', direction: 'ingress', rule: v.ingress.deciding!.rule, action: 'allow' }]);
  }
  // The connection is in TIME_WAIT for minutes; removing the entry ends it now, and the kernel
  // reports the end with its accounting.
  await run('nsenter', [`--net=${netnsPath(lab.node('node-2').netns)}`, 'conntrack', '-D', '-p', 'tcp', '--dport', '5432']).catch(() => undefined);
  const end = await f.next((r) => r.event === 'end' && r.node_name === 'node-2', 8000);
  assert.ok(end.counters && end.counters.packets >= 3 && end.counters.bytes > 0 && end.counters.reply_packets >= 2, JSON.stringify(end.counters));
});

test('every agent reports its ring and lost-event counters', async () => {
  for (const n of ['node-1', 'node-2']) {
    const s = await agentRequest<FlowStats>(lab.socket(n), 'GET', '/v1/flows/status');
    assert.equal(s.node, n);
    assert.equal(s.ringSize, 16_384);
    assert.ok(s.recorded.new >= 1);
    for (const k of ['nflog', 'nflogOverflows', 'conntrackOverflows', 'ringOverwritten'] as const) assert.equal(typeof s.lost[k], 'number');
  }
  const out = (await run(process.execPath, [twillBin(), 'observe', '--lab', NAME, '--last', '3', '-o', 'table'])).stdout;
  assert.match(out, /^TIMESTAMP\s+NODE\s+SOURCE\s+DESTINATION/);
  assert.equal(out.trim().split('\n').length, 4);
});

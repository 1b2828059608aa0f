import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTwillError } from '../util/errors.js';
import { compilePolicy } from './compile.js';
import { renderFullReplace, renderTable } from './render.js';
import { assertGolden as assertGoldenFile } from '../../test/support/golden.js';

const assertGolden = (name: string, text: string): void => assertGoldenFile(new URL(`./testdata/${name}`, import.meta.url), text);
import { PODS, POLICIES, pol, shopSnapshot } from './testing/fixtures.js';
import type { SnapshotPod } from './snapshot.js';

test('golden: no policies (the static skeleton: anti-spoofing, dispatch, empty maps)', () => {
  assertGolden('compile-empty.nft', renderFullReplace(compilePolicy(shopSnapshot({ policies: [] }))));
});

test('golden: the shop cluster on node n1 (groups, named ports, ipBlock except, endPort, SCTP, IPv6)', () => {
  assertGolden('compile-shop-n1.nft', renderTable(compilePolicy(shopSnapshot())));
});

test('golden: the shop cluster on node n2 (db-1 is isolated: DNS egress only, no ingress)', () => {
  assertGolden('compile-shop-n2.nft', renderTable(compilePolicy(shopSnapshot({ node: 'n2' }))));
});

test('golden: the shop cluster on node n1 with flow records (NFLOG in the drop and anti-spoofing paths; accepts come from conntrack)', () => {
  assertGolden('compile-shop-n1-flows.nft', renderTable(compilePolicy(shopSnapshot(), { log: { group: 100, rate: 1000, burst: 200 } })));
});

test('compile is deterministic and independent of input order', () => {
  const a = renderTable(compilePolicy(shopSnapshot()));
  const s = shopSnapshot();
  const b = renderTable(compilePolicy({ ...s, pods: [...s.pods].reverse(), policies: [...s.policies].reverse(), localEndpoints: [...s.localEndpoints].reverse() }));
  assert.equal(a, b);
});

test('pods with the same selecting policies share a group; contiguous addresses merge into ranges', () => {
  const web = (i: number): SnapshotPod => ({ namespace: 'shop', name: `web-${i}`, labels: { app: 'web' }, ips: [`10.244.1.${10 + i}`], node: 'n1', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] });
  const pods = [...PODS.filter((p) => !p.name.startsWith('web')), ...Array.from({ length: 8 }, (_, i) => web(i))];
  const m = compilePolicy(shopSnapshot({ pods }));
  const ingressWeb = m.info.groups.filter((g) => g.direction === 'ingress' && g.policies.includes('shop/web'));
  assert.equal(ingressWeb.length, 1);
  assert.equal(ingressWeb[0]!.members.length, 8);
  const apiIn = m.sets.find((s) => s.name === m.info.groups.find((g) => g.direction === 'ingress' && g.family === 4 && g.policies.includes('shop/api'))!.name)!;
  assert.ok(apiIn.elements.some((e) => e.key.startsWith('10.244.1.10-10.244.1.17 . tcp . 80')), JSON.stringify(apiIn.elements));
});

test('names are stable: an unrelated pod or a changed rule does not rename groups', () => {
  const before = compilePolicy(shopSnapshot());
  const extra: SnapshotPod = { namespace: 'mon', name: 'prom-2', labels: { app: 'prom' }, ips: ['10.244.1.99'], node: 'n1', ports: [] };
  const withPod = compilePolicy(shopSnapshot({ pods: [...PODS, extra] }));
  const changed = POLICIES.map((p) => (p.metadata.name === 'api' ? pol('shop', 'api', { ...p.spec, egress: [{ ports: [{ port: 6543 }] }] }) : p));
  const withRule = compilePolicy(shopSnapshot({ policies: changed }));
  const names = (m: typeof before): string[] => m.info.groups.map((g) => g.name);
  assert.deepEqual(names(withPod), names(before));
  assert.deepEqual(names(withRule), names(before));
});

test('per-packet work does not grow with the number of policies', () => {
  const many = Array.from({ length: 400 }, (_, i) =>
    pol(`ns${i % 40}`, `p${i}`, { podSelector: { matchLabels: { app: `a${i % 7}` } }, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 1000 + i }] }] }),
  );
  for (const policies of [POLICIES, [...POLICIES, ...many]]) {
    const m = compilePolicy(shopSnapshot({ policies }));
    // Every chain a packet can cross holds at most 7 rules, and group chains exactly 2.
    for (const c of m.chains) assert.ok(c.rules.length <= 7, `${c.name} has ${c.rules.length} rules`);
    for (const g of m.info.groups) assert.equal(m.chains.find((c) => c.name === g.name)!.rules.length, 2);
  }
  // Policies that select no local pod add no object at all.
  const a = compilePolicy(shopSnapshot());
  const b = compilePolicy(shopSnapshot({ policies: [...POLICIES, ...many] }));
  assert.equal(b.sets.length, a.sets.length);
  assert.equal(b.chains.length, a.chains.length);
});

test('a local endpoint the snapshot does not know is an internal error, not a silent hole', () => {
  const s = shopSnapshot();
  assert.throws(() => compilePolicy({ ...s, localEndpoints: [...s.localEndpoints, { namespace: 'shop', name: 'ghost', ip: '10.244.1.77', hostIface: 'twlghost' }] }), (e) => isTwillError(e, 'INTERNAL') && /shop\/ghost/.test(e.message));
  assert.throws(() => compilePolicy({ ...s, localEndpoints: [{ namespace: 'shop', name: 'web-1', ip: '10.244.1.77', hostIface: 'twlweb1' }] }), /does not hold/);
});

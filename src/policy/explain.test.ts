import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy, policyObjectName } from './compile.js';
import { evaluate } from './evaluate.js';
import { explain, policyCounters } from './explain.js';
import { assertGolden as assertGoldenFile } from '../../test/support/golden.js';

const assertGolden = (name: string, text: string): void => assertGoldenFile(new URL(`./testdata/${name}`, import.meta.url), text);
import { shopSnapshot } from './testing/fixtures.js';

test('golden: explain() for an allowed, a denied and a node-local flow', () => {
  const s = shopSnapshot();
  const text = [
    explain(evaluate(s, { src: { pod: 'shop/web-1' }, dst: { pod: 'shop/api-1' }, protocol: 'TCP', port: 80 })),
    explain(evaluate(s, { src: { pod: 'shop/api-1' }, dst: { pod: 'shop/web-2' }, protocol: 'TCP', port: 8080 })),
    explain(evaluate(s, { src: { pod: 'mon/prom-1' }, dst: { pod: 'shop/api-1' }, protocol: 'SCTP', port: 9 })),
    explain(evaluate(s, { src: { node: 'n1', ip: '192.0.2.1' }, dst: { pod: 'shop/web-1' }, protocol: 'TCP', port: 8080 })),
  ].join('\n');
  assertGolden('explain.txt', text);
});

test('policyCounters: allowed per policy, drops credited to every policy of the group', () => {
  const m = compilePolicy(shopSnapshot());
  const webIn = m.info.groups.find((g) => g.direction === 'ingress' && g.policies.includes('shop/web'))!;
  // The shape `nft -j list table` prints: each counting chain holds one rule with a counter.
  const rule = (chain: string, packets: number, bytes: number, verdict: object[] = []) => ({
    rule: { family: 'inet', table: 'twill-policy', chain, handle: 9, expr: [{ counter: { packets, bytes } }, ...verdict] },
  });
  const json = {
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: 'twill-policy' } },
      { chain: { family: 'inet', name: 'forward' } },
      { rule: { family: 'inet', table: 'twill-policy', chain: 'forward', handle: 2, expr: [{ accept: null }] } },
      rule(policyObjectName('shop/web', 'ingress'), 7, 420, [{ accept: null }]),
      rule(policyObjectName('shop/allow-dns', 'egress'), 3, 180),
      rule(webIn.name, 2, 120, [{ drop: null }]),
      rule(m.info.spoofCounter, 1, 60, [{ drop: null }]),
      rule(m.info.spoofCounter, 0, 0, [{ drop: null }]),
    ],
  };
  const r = policyCounters(json, m.info);
  assert.deepEqual(r.spoofed, { packets: 1, bytes: 60 });
  const get = (p: string) => r.policies.find((x) => x.policy === p)!;
  assert.deepEqual(get('shop/web').ingressAllowed, { packets: 7, bytes: 420 });
  assert.deepEqual(get('shop/allow-dns').egressAllowed, { packets: 3, bytes: 180 });
  for (const p of webIn.policies) assert.deepEqual(get(p).ingressDropped, { packets: 2, bytes: 120 }, p);
  assert.deepEqual(get('shop/api').ingressDropped, { packets: 0, bytes: 0 });
  assert.deepEqual(r.policies.map((p) => p.policy), ['shop/allow-dns', 'shop/api', 'shop/default-deny', 'shop/metrics', 'shop/web']);
  assert.deepEqual(policyCounters(undefined, m.info).spoofed, { packets: 0, bytes: 0 }, 'an absent table reads as zeros');
});

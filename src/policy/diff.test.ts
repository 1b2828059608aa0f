import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy } from './compile.js';
import { diffModels } from './diff.js';
import { NftFake } from './nft-fake.js';
import { renderFullReplace } from './render.js';
import { assertGolden as assertGoldenFile } from '../../test/support/golden.js';

const assertGolden = (name: string, text: string): void => assertGoldenFile(new URL(`./testdata/${name}`, import.meta.url), text);
import { PODS, POLICIES, pol, shopSnapshot } from './testing/fixtures.js';
import type { PolicySnapshot } from './snapshot.js';

/** Diffs two snapshots, checks the script against a fresh full apply in the fake, returns it. */
function diffChecked(a: PolicySnapshot, b: PolicySnapshot): string {
  const [ma, mb] = [compilePolicy(a), compilePolicy(b)];
  const d = diffModels(ma, mb);
  assert.equal(d.full, false);
  const inc = new NftFake();
  inc.apply(renderFullReplace(ma));
  inc.apply(d.script);
  const fresh = new NftFake();
  fresh.apply(renderFullReplace(mb));
  assert.equal(inc.dump('twill-policy'), fresh.dump('twill-policy'));
  return d.script;
}

test('nothing changed: empty script, zero changes', () => {
  const m = compilePolicy(shopSnapshot());
  assert.deepEqual(diffModels(m, compilePolicy(shopSnapshot())), { script: '', ops: [], full: false, changes: 0 });
});

test('golden diff: a pod joins an existing group (element adds only)', () => {
  const pod = { namespace: 'shop', name: 'web-3', labels: { app: 'web' }, ips: ['10.244.1.12'], node: 'n1', ports: [{ name: 'http', port: 8080, protocol: 'TCP' as const }] };
  const script = diffChecked(shopSnapshot(), shopSnapshot({ pods: [...PODS, pod] }));
  assert.doesNotMatch(script, /^(add|delete) (chain|map|set|counter)/m, 'no object is created or deleted');
  assertGolden('diff-pod-joins.nft', script);
});

test('golden diff: a local pod leaves (a shrunk range: the old element is deleted before the new one is added)', () => {
  const script = diffChecked(shopSnapshot(), shopSnapshot({ pods: PODS.filter((p) => p.name !== 'web-2') }));
  assertGolden('diff-pod-leaves.nft', script);
});

test('golden diff: one rule of one policy changes (only that policy’s elements move)', () => {
  const policies = POLICIES.map((p) => (p.metadata.name === 'api' ? pol('shop', 'api', { ...p.spec, egress: [{ to: p.spec.egress![0]!.to!, ports: [{ port: 5432 }, { port: 6432 }] }] }) : p));
  assertGolden('diff-rule-changes.nft', diffChecked(shopSnapshot(), shopSnapshot({ policies })));
});

test('golden diff: a policy is deleted (groups renamed: new objects first, old ones last)', () => {
  assertGolden('diff-policy-deleted.nft', diffChecked(shopSnapshot(), shopSnapshot({ policies: POLICIES.filter((p) => p.metadata.name !== 'metrics') })));
});

test('a changed chain definition falls back to one full replacement', () => {
  const a = compilePolicy(shopSnapshot());
  const b = compilePolicy(shopSnapshot());
  b.chains = b.chains.map((c) => (c.name === 'forward' ? { ...c, base: { ...c.base!, priority: '10' } } : c));
  const d = diffModels(a, b);
  assert.equal(d.full, true);
  assert.match(d.script, /^add table inet twill-policy\ndelete table inet twill-policy\ntable inet twill-policy \{/);
});

test('changed rules in a kept chain are flushed and refilled', () => {
  const a = compilePolicy(shopSnapshot());
  const b = compilePolicy(shopSnapshot());
  b.chains = b.chains.map((c) => (c.name === 'egress' ? { ...c, rules: [c.rules[0]!] } : c));
  const d = diffModels(a, b);
  assert.equal(d.script, 'flush chain inet twill-policy egress\nadd rule inet twill-policy egress ip saddr vmap @egress_groups\n');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy } from '../policy/compile.js';
import { indexSnapshot } from '../policy/snapshot.js';
import { shopSnapshot } from '../policy/testing/fixtures.js';
import { FilterError, matchesFilter, parseEndSelector, validateFilter } from './filter.js';
import { flowFromConntrack, type FlowRecord } from './record.js';

const snap = shopSnapshot();
const ctx = { node: 'n1', index: indexSnapshot(snap), info: compilePolicy(snap).info };
const r = { id: 1, ...flowFromConntrack(ctx, { type: 'new', orig: { family: 4, src: '10.244.1.10', dst: '10.244.1.20', proto: 6, srcPort: 4000, dstPort: 80 }, nat: false }, new Date('2026-12-02T06:00:00Z'))! } as FlowRecord;

test('end selectors: pod, namespace, labels, IP, CIDR, explicit kinds', () => {
  assert.deepEqual(parseEndSelector('shop/web-1'), { namespace: 'shop', pod: 'web-1' });
  assert.deepEqual(parseEndSelector('web-1'), { namespace: 'default', pod: 'web-1' });
  assert.deepEqual(parseEndSelector('shop/'), { namespace: 'shop' });
  assert.deepEqual(parseEndSelector('namespace:shop'), { namespace: 'shop' });
  assert.deepEqual(parseEndSelector('app=web,tier=fe'), { labels: [['app', 'web'], ['tier', 'fe']] });
  assert.deepEqual(parseEndSelector('10.244.1.10'), { ip: '10.244.1.10' });
  assert.deepEqual(parseEndSelector('10.244.0.0/16'), { cidr: '10.244.0.0/16' });
  assert.throws(() => parseEndSelector('ip:nope'), FilterError);
  assert.throws(() => parseEndSelector('a/b/c'), /expected NAMESPACE\/POD/);
});

test('filters narrow, each field on its own and together', () => {
  const yes = (f: Parameters<typeof matchesFilter>[0]): boolean => matchesFilter(f, r);
  assert.ok(yes({}));
  assert.ok(yes({ from: [parseEndSelector('shop/web-1')], to: [parseEndSelector('app=api')] }));
  assert.ok(!yes({ from: [parseEndSelector('shop/web-2')] }));
  assert.ok(yes({ to: [parseEndSelector('10.244.1.0/24')] }) && !yes({ to: [parseEndSelector('10.244.2.0/24')] }));
  assert.ok(yes({ verdict: ['FORWARDED'] }) && !yes({ verdict: ['DROPPED'] }));
  assert.ok(yes({ port: [80] }) && !yes({ port: [81] }));
  assert.ok(yes({ protocol: ['tcp'] }) && !yes({ protocol: ['udp'] }));
  assert.ok(yes({ policy: ['shop/web'] }) && !yes({ policy: ['shop/db'] }));
  assert.ok(yes({ node: ['n1'] }) && !yes({ node: ['n2'] }));
  assert.ok(yes({ since: '2026-12-02T05:59:00Z' }) && !yes({ since: '2026-12-02T06:01:00Z' }));
});

test('a filter from JSON is checked field by field', () => {
  assert.deepEqual(validateFilter(undefined), {});
  assert.throws(() => validateFilter({ verdict: ['MAYBE'] }), /filter.verdict/);
  assert.throws(() => validateFilter({ port: ['80'] }), /filter.port/);
  assert.throws(() => validateFilter('x'), /JSON object/);
});

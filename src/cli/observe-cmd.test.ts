import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFilter, parseSince } from './observe-cmd.js';

const none = { from: [], to: [], verdict: [], port: [], protocol: [], policy: [], node: [] };

test('observe flags become one filter; bad values are refused with the flag named', () => {
  assert.deepEqual(buildFilter({ ...none, from: ['shop/web'], verdict: ['dropped'], protocol: ['TCP'], policy: ['db'] }), {
    from: [{ namespace: 'shop', pod: 'web' }],
    verdict: ['DROPPED'],
    protocol: ['tcp'],
    policy: ['default/db'],
  });
  assert.throws(() => buildFilter({ ...none, verdict: ['maybe'] }), /--verdict "MAYBE"/);
  assert.throws(() => buildFilter({ ...none, protocol: ['gre'] }), /--protocol "gre"/);
  assert.throws(() => buildFilter({ ...none, to: ['a/b/c'] }), /expected NAMESPACE\/POD/);
});

test('--since takes a duration or a time', () => {
  const now = Date.parse('2026-12-02T06:00:00Z');
  assert.equal(parseSince('5m', now), '2026-12-02T05:55:00.000Z');
  assert.equal(parseSince('30s', now), '2026-12-02T05:59:30.000Z');
  assert.equal(parseSince('2026-12-02T05:00:00Z', now), '2026-12-02T05:00:00.000Z');
  assert.throws(() => parseSince('yesterday', now), /--since "yesterday"/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowRing } from './ring.js';
import type { FlowRecord } from './record.js';

const rec = (n: number): Omit<FlowRecord, 'id'> => ({ time: `t${n}` }) as unknown as Omit<FlowRecord, 'id'>;

test('the ring keeps the newest records and counts what it overwrote', () => {
  const r = new FlowRing(4);
  for (let i = 1; i <= 10; i++) r.push(rec(i));
  assert.equal(r.length, 4);
  assert.equal(r.overwritten, 6);
  assert.deepEqual(r.since(0).records.map((x) => x.id), [7, 8, 9, 10]);
  assert.equal(r.since(0).missed, 6, 'a reader from the start missed 6');
  assert.deepEqual(r.since(8), { records: [r.since(8).records[0]!, r.since(8).records[1]!], missed: 0 });
  assert.deepEqual(r.since(8).records.map((x) => x.id), [9, 10]);
  assert.deepEqual(r.since(10).records, []);
});

test('an empty ring, and one not yet full', () => {
  const r = new FlowRing(3);
  assert.deepEqual(r.since(0), { records: [], missed: 0 });
  r.push(rec(1));
  assert.deepEqual(r.since(0).records.map((x) => x.id), [1]);
  assert.equal(r.overwritten, 0);
});

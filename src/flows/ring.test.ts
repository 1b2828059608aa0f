import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy } from '../policy/compile.js';
import { indexSnapshot } from '../policy/snapshot.js';
import { shopSnapshot } from '../policy/testing/fixtures.js';
import type { CtEvent } from '../dataplane/kernel/conntrack.js';
import { FlowRing } from './ring.js';
import { flowFromConntrack, flowFromNflog, partsFromConntrack, partsFromNflog, type FlowContext, type FlowParts } from './record.js';

const snap = shopSnapshot();
const model = compilePolicy(snap, { log: { group: 100, rate: 1000, burst: 100 } });
const ctx: FlowContext = { node: 'n1', index: indexSnapshot(snap), info: model.info };
const T = Date.parse('2026-12-02T06:00:00.123Z');
const ev = (n: number): CtEvent => ({ type: 'new', orig: { family: 4, src: '10.244.1.10', dst: '10.244.1.20', proto: 6, srcPort: 40000 + n, dstPort: 80 }, nat: false, id: n });
const parts = (n: number): FlowParts => partsFromConntrack(ctx, ev(n), T + n)!;

test('the ring keeps the newest records and counts what it overwrote', () => {
  const r = new FlowRing(4);
  for (let i = 1; i <= 10; i++) r.push(parts(i));
  assert.equal(r.length, 4);
  assert.equal(r.overwritten, 6);
  assert.deepEqual(r.since(0).records.map((x) => x.id), [7, 8, 9, 10]);
  assert.deepEqual(r.since(0).records.map((x) => x.l4.TCP?.source_port), [40007, 40008, 40009, 40010], 'the columns of overwritten slots hold the newer records');
  assert.equal(r.since(0).missed, 6, 'a reader from the start missed 6');
  assert.deepEqual(r.since(8).records.map((x) => x.id), [9, 10]);
  assert.equal(r.since(8).missed, 0);
  assert.deepEqual(r.since(10).records, []);
  assert.equal(r.get(6), undefined, 'an overwritten record is gone');
  assert.equal(r.get(11), undefined, 'a record not yet written');
});

test('an empty ring, and one not yet full', () => {
  const r = new FlowRing(3);
  assert.deepEqual(r.since(0), { records: [], missed: 0 });
  r.push(parts(1));
  assert.deepEqual(r.since(0).records.map((x) => x.id), [1]);
  assert.equal(r.overwritten, 0);
});

test('a record read back from the columns is the record that went in, field for field', () => {
  const g = model.info.groups.find((x) => x.direction === 'ingress' && x.family === 4 && x.members.includes('shop/api-1'))!;
  const hdr = { family: 4 as const, src: '10.244.2.40', dst: '10.244.1.20', proto: 6, srcPort: 1234, dstPort: 80, length: 60 };
  const now = new Date(T);
  const events: CtEvent[] = [
    ev(1),
    { ...ev(2), type: 'destroy', origCounters: { packets: 5, bytes: 300 }, replyCounters: { packets: 4, bytes: 900 }, startNs: 1.7e18, stopNs: 1.7e18 + 2.5e9 },
    { ...ev(3), type: 'destroy', origCounters: { packets: 2 ** 40, bytes: 2 ** 50 } },
    { type: 'new', orig: { family: 4, src: '10.244.1.10', dst: '192.0.2.9', proto: 1, icmpType: 8, icmpCode: 0 }, nat: false },
    { type: 'new', orig: { family: 6, src: 'fd00:10:244:1::20', dst: 'fd00:10:244:2::9', proto: 17, srcPort: 5353, dstPort: 53 }, nat: true },
    { type: 'new', orig: { family: 4, src: '10.244.1.10', dst: '10.244.1.20', proto: 47 }, nat: false },
  ];
  const pkts = [
    { prefix: `twill D ${g.name}`, headers: hdr },
    { prefix: 'twill S antispoof', headers: { ...hdr, src: '10.9.9.9' } },
  ];
  const expected = [...events.map((e) => flowFromConntrack(ctx, e, now)), ...pkts.map((p) => flowFromNflog(ctx, p, now))];
  const r = new FlowRing(16);
  for (const e of events) r.push(partsFromConntrack(ctx, e, T)!);
  for (const p of pkts) r.push(partsFromNflog(ctx, p, T)!);
  const got = r.since(0).records;
  assert.equal(got.length, expected.length);
  // JSON: what the API sends (key order aside, every field and value).
  for (let i = 0; i < got.length; i++) assert.deepEqual(JSON.parse(JSON.stringify(got[i])), JSON.parse(JSON.stringify({ ...expected[i], id: i + 1 })), `record ${i + 1}`);
  assert.equal(got[2]!.counters!.bytes, 2 ** 50, 'counts beyond 32 bits survive');
  assert.deepEqual(got[7]!.policies, [], 'a spoofed packet names no policy');
});

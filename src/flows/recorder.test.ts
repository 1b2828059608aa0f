// The recorder's query path without the kernel: events in, filtered records out, as the agent's
// API sees them (the filter arrives as JSON).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy } from '../policy/compile.js';
import { indexSnapshot } from '../policy/snapshot.js';
import { shopSnapshot } from '../policy/testing/fixtures.js';
import { rootLogger } from '../util/log.js';
import { buildFilter } from '../cli/observe-cmd.js';
import { validateFilter } from './filter.js';
import { FlowRecorder } from './recorder.js';

const snap = shopSnapshot();
const ctx = { node: 'n1', index: indexSnapshot(snap), info: compilePolicy(snap).info };

test('records from events, queried with a filter that went through JSON, after a cursor, the last N', async () => {
  const r = new FlowRecorder({ node: 'n1', ringSize: 100, group: 100, runDir: '/nonexistent', context: () => ctx, log: rootLogger });
  const ev = (src: string, dst: string, port: number) => ({ type: 'new' as const, orig: { family: 4 as const, src, dst, proto: 6, srcPort: 40000, dstPort: port }, nat: false });
  r.onConntrack([ev('10.244.1.10', '10.244.1.20', 80), ev('10.244.1.10', '10.244.2.30', 5432), ev('10.244.1.11', '10.244.2.30', 5432), ev('10.244.2.40', '10.244.2.30', 5432)]);
  const filter = validateFilter(JSON.parse(JSON.stringify(buildFilter({ from: ['shop/web-1'], to: [], verdict: [], port: [5432], protocol: [], policy: [], node: [] }))));
  const q = await r.query({ filter });
  assert.deepEqual(q.records.map((x) => `${x.source.pod_name}>${x.destination.pod_name}:${x.l4.TCP?.destination_port}`), ['web-1>db-1:5432']);
  assert.equal(q.cursor, 3, 'the flow between two pods of other nodes made no record');
  assert.deepEqual((await r.query({ last: 1 })).records.map((x) => x.id), [3]);
  assert.deepEqual((await r.query({ last: 0 })).records, []);
  assert.deepEqual((await r.query({ after: 2 })).records.map((x) => x.id), [3]);
  assert.deepEqual(r.stats().recorded, { new: 3, end: 0, drop: 0, reused: 0, unanswered: 0 });
});

test('a SYN that reused a conntrack entry (NFLOG "twill R") makes a new record; its retransmission does not', async () => {
  const r = new FlowRecorder({ node: 'n1', ringSize: 100, group: 100, runDir: '/nonexistent', context: () => ctx, log: rootLogger });
  const syn = (seq: number, srcPort = 40000) => ({ prefix: 'twill R forward', seq: 0, headers: { family: 4 as const, src: '10.244.1.10', dst: '10.244.2.30', length: 60, proto: 6, srcPort, dstPort: 5432, tcpFlags: 2, tcpSeq: seq } });
  r.onNflog([syn(1000), syn(1000), syn(5000), syn(1000, 40002)]);
  const q = await r.query({});
  assert.deepEqual(q.records.map((x) => `${x.event} ${x.verdict} ${x.traffic_direction} ${x.l4.TCP?.source_port} ${x.kernel_rule}`), ['new FORWARDED EGRESS 40000 twill R forward', 'new FORWARDED EGRESS 40000 twill R forward', 'new FORWARDED EGRESS 40002 twill R forward']);
  assert.equal(q.records[0]!.Summary, 'TCP new connection (its SYN reused a conntrack entry)');
  assert.deepEqual(r.stats().recorded, { new: 3, end: 0, drop: 0, reused: 3, unanswered: 0 });
});

test('SYNs sent again on an unanswered entry (NFLOG "twill U"): one record per attempt, not per retransmission', async () => {
  const r = new FlowRecorder({ node: 'n1', ringSize: 100, group: 100, runDir: '/nonexistent', context: () => ctx, log: rootLogger });
  const seen: boolean[] = [];
  r.onRecord((e) => seen.push(e.unanswered === true));
  const syn = (prefix: string, seq: number, srcPort = 40000) => ({ prefix, seq: 0, headers: { family: 4 as const, src: '10.244.1.10', dst: '10.244.2.30', length: 60, proto: 6, srcPort, dstPort: 5432, tcpFlags: 2, tcpSeq: seq } });
  // An attempt retransmitted three times, a second attempt on the same ports, another 4-tuple; then
  // the first attempt's ports on a reused answered entry with the same sequence number (another kind: a record).
  r.onNflog([syn('twill U forward', 1000), syn('twill U forward', 1000)]);
  r.onNflog([syn('twill U forward', 1000), syn('twill U forward', 7000), syn('twill U forward', 1000, 40002), syn('twill R forward', 1000)]);
  const q = await r.query({});
  assert.deepEqual(q.records.map((x) => `${x.event} ${x.l4.TCP?.source_port} ${x.kernel_rule} ${x.Summary}`), [
    'new 40000 twill U forward TCP SYN sent again, no reply yet',
    'new 40000 twill U forward TCP SYN sent again, no reply yet',
    'new 40002 twill U forward TCP SYN sent again, no reply yet',
    'new 40000 twill R forward TCP new connection (its SYN reused a conntrack entry)',
  ]);
  assert.deepEqual(r.stats().recorded, { new: 4, end: 0, drop: 0, reused: 1, unanswered: 3 });
  assert.deepEqual(seen, [true, true, true, false], 'listeners (the metrics) learn which are unanswered');
});

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
  assert.deepEqual(r.stats().recorded, { new: 3, end: 0, drop: 0 });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowRecord } from '../../flows/record.js';
import { layoutMap } from './map.js';

const end = (ns: string, pod: string) => ({ kind: 'pod' as const, ip: '10.0.0.1', namespace: ns, pod_name: pod, labels: [] });
const rec = (verdict: 'FORWARDED' | 'DROPPED', t: string, dst = end('shop', 'db')): FlowRecord => ({ verdict, time: t, event: verdict === 'DROPPED' ? 'drop' : 'new', source: end('shop', 'web'), destination: dst }) as unknown as FlowRecord;

test('the map: one column per node and one for the world, pods inside, edges by verdict with width by count', () => {
  const now = Date.parse('2026-12-02T06:00:30Z');
  const rs = [rec('FORWARDED', '2026-12-02T06:00:10Z'), rec('FORWARDED', '2026-12-02T06:00:11Z'), rec('FORWARDED', '2026-12-02T06:00:12Z'), rec('DROPPED', '2026-12-02T06:00:20Z'), rec('DROPPED', '2026-12-02T05:00:00Z'), rec('FORWARDED', '2026-12-02T06:00:25Z', { kind: 'world', ip: '192.0.2.9', labels: [] } as never)];
  const m = layoutMap(['n1', 'n2'], [{ pod: 'shop/web', node: 'n1' }, { pod: 'shop/db', node: 'n2' }], rs, now, 30_000);
  assert.deepEqual(m.nodes.map((n) => n.name), ['n1', 'n2', 'world']);
  assert.deepEqual(m.pods.map((p) => p.key), ['shop/web', 'shop/db', '192.0.2.9']);
  const e = (v: string, to = 'shop/db') => m.edges.find((x) => x.verdict === v && x.to === to)!;
  assert.equal(e('FORWARDED').count, 3);
  assert.equal(e('DROPPED').count, 1, 'a drop an hour ago is outside the window');
  assert.ok(e('FORWARDED').width > e('DROPPED').width);
  assert.equal(e('FORWARDED', '192.0.2.9').count, 1);
});

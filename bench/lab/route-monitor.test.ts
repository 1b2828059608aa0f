// Parsing `ip -ts monitor route` lines (no root: the lines are given).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMonitorLine } from './route-monitor.js';

describe('parseMonitorLine', () => {
  test('an added VXLAN block route, with a microsecond local-time stamp', () => {
    const e = parseMonitorLine('[2026-11-22T07:27:14.029692] 10.244.9.0/26 via 10.244.9.0 dev twill0 proto 116 onlink ', 'ns1')!;
    assert.equal(e.dst, '10.244.9.0/26');
    assert.equal(e.deleted, false);
    assert.equal(e.netns, 'ns1');
    assert.equal(e.at, new Date(2026, 10, 22, 7, 27, 14).getTime() + 29.692);
  });

  test('a deletion, a host route without a length, a blackhole', () => {
    const d = parseMonitorLine('[2026-11-22T07:27:14.035227] Deleted 10.244.9.0/26 via 192.0.2.16 dev eth0 proto 116')!;
    assert.equal(d.deleted, true);
    assert.equal(d.dst, '10.244.9.0/26');
    assert.equal(parseMonitorLine('[2026-11-22T07:27:14.000001] 10.244.1.5 dev twl0abc proto 116 scope link')!.dst, '10.244.1.5/32');
    assert.equal(parseMonitorLine('[2026-11-22T07:27:14.5] blackhole 10.244.1.0/26 proto 116')!.dst, '10.244.1.0/26');
  });

  test('lines without a timestamp are not events', () => {
    assert.equal(parseMonitorLine('10.244.9.0/26 via 10.244.9.0 dev twill0'), undefined);
    assert.equal(parseMonitorLine(''), undefined);
  });
});

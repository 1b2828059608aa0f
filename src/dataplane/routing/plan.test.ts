// planRouting without a kernel: what changes, and in which order.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileRouting } from './compile.js';
import { ownsRoute, planRouting, summarize, type CurrentRouting, type Op } from './plan.js';
import { asCurrent } from './testing/as-current.js';
import type { PeerNode, RoutingConfig, RoutingSnapshot } from './types.js';
import { vtepMac } from './vxlan/vtep.js';

const peers: PeerNode[] = [
  { name: 'b', underlayIP: '192.0.2.12', backend: 'vxlan', vtepMAC: vtepMac('b'), vtepIP: '10.244.1.0', blocks: ['10.244.1.0/26'] },
  { name: 'c', underlayIP: '192.0.2.13', backend: 'vxlan', vtepMAC: vtepMac('c'), vtepIP: '10.244.2.0', blocks: ['10.244.2.0/26'] },
];
const vxlan: RoutingConfig = { backend: 'vxlan', vxlan: { vni: 4096, port: 4789, directRouting: false } };

function snap(over: Partial<RoutingSnapshot> = {}): RoutingSnapshot {
  return {
    self: { name: 'a', underlayIP: '192.0.2.11', underlayCIDR: '192.0.2.0/24', underlayIface: 'eth0', underlayMTU: 1500, blocks: ['10.244.0.0/26'] },
    peers,
    config: vxlan,
    ...over,
  };
}

const EMPTY: CurrentRouting = { device: undefined, routes: [], neighbors: [], fdb: [] };
const kinds = (ops: Op[]): string[] => ops.map((o) => o.op);

describe('planRouting', () => {
  test('from nothing: device first, then neighbours and FDB, then routes', () => {
    const ops = planRouting(EMPTY, compileRouting(snap()));
    assert.deepEqual(kinds(ops), ['create-device', 'add-address', 'put-neighbor', 'put-neighbor', 'put-fdb', 'put-fdb', 'put-route', 'put-route', 'put-route']);
    assert.deepEqual(summarize(ops), { ...summarize(ops), added: 9, removed: 0, changed: 0 });
  });

  test('applying what is already there plans nothing', () => {
    for (const config of [vxlan, { ...vxlan, backend: 'host-gw' as const }, { ...vxlan, vxlan: { ...vxlan.vxlan, directRouting: true } }]) {
      const d = compileRouting(snap({ config }));
      assert.deepEqual(planRouting(asCurrent(d), d), [], config.backend);
    }
  });

  test('vxlan → host-gw: routes are replaced in place, then twill0 goes (taking its entries)', () => {
    const before = compileRouting(snap());
    const ops = planRouting(asCurrent(before), compileRouting(snap({ config: { ...vxlan, backend: 'host-gw' } })));
    assert.deepEqual(kinds(ops), ['put-route', 'put-route', 'del-device']);
    assert.ok(ops.slice(0, 2).every((o) => o.op === 'put-route' && o.change === 'change' && o.route.dev === 'eth0'));
    const s = summarize(ops);
    assert.equal(s.changed, 2);
    assert.equal(s.removed, 1 + 4, 'the device and its 2 neighbours and 2 FDB entries');
  });

  test('host-gw → vxlan: device and entries come before the routes that need them', () => {
    const before = compileRouting(snap({ config: { ...vxlan, backend: 'host-gw' } }));
    const ops = planRouting(asCurrent(before), compileRouting(snap()));
    assert.deepEqual(kinds(ops), ['create-device', 'add-address', 'put-neighbor', 'put-neighbor', 'put-fdb', 'put-fdb', 'put-route', 'put-route']);
  });

  test('a changed VNI re-creates twill0 and re-adds everything that lived on it', () => {
    const before = asCurrent(compileRouting(snap()));
    const ops = planRouting(before, compileRouting(snap({ config: { ...vxlan, vxlan: { ...vxlan.vxlan, vni: 7 } } })));
    assert.equal(ops[0]?.op, 'create-device');
    assert.ok(ops[0]?.op === 'create-device' && ops[0].deleteFirst && ops[0].why === 'VNI 4096 → 7');
    assert.equal(ops.filter((o) => o.op === 'put-route').length, 2, 'twill0 routes re-added; the blackhole stays');
    assert.equal(ops.filter((o) => o.op === 'put-neighbor' || o.op === 'put-fdb').length, 4);
  });

  test('a changed MTU or MAC adjusts twill0 in place', () => {
    const before = asCurrent(compileRouting(snap()));
    const after = compileRouting(snap({ self: { ...snap().self, underlayMTU: 9000, vtepMAC: '0a:00:00:00:00:01' } }));
    assert.deepEqual(planRouting(before, after), [{ op: 'set-device', change: 'change', name: 'twill0', mtu: 8950, mac: '0a:00:00:00:00:01' }]);
  });

  test('a removed peer: its route, neighbour and FDB entry are withdrawn after the puts', () => {
    const before = asCurrent(compileRouting(snap()));
    const ops = planRouting(before, compileRouting(snap({ peers: peers.slice(0, 1) })));
    assert.deepEqual(kinds(ops), ['del-route', 'del-neighbor', 'del-fdb']);
    assert.ok(ops[0]?.op === 'del-route' && ops[0].route.dst === '10.244.2.0/26');
  });

  test('a peer that moved: FDB entry rewritten in place, not appended', () => {
    const before = asCurrent(compileRouting(snap()));
    const moved = peers.map((p) => (p.name === 'b' ? { ...p, underlayIP: '192.0.2.99' } : p));
    const ops = planRouting(before, compileRouting(snap({ peers: moved })));
    assert.deepEqual(ops, [
      { op: 'put-fdb', change: 'change', fdb: { dev: 'twill0', mac: vtepMac('b'), dst: '192.0.2.99' } },
      { op: 'del-fdb', change: 'remove', fdb: { dev: 'twill0', mac: vtepMac('b'), dst: '192.0.2.12' } },
    ]);
  });

  test('a stale address on twill0 is removed after the new one is added', () => {
    const before = asCurrent(compileRouting(snap()));
    const ops = planRouting(before, compileRouting(snap({ self: { ...snap().self, blocks: ['10.244.9.0/26'] } })));
    const addr = ops.filter((o) => o.op === 'add-address' || o.op === 'del-address');
    assert.deepEqual(addr, [
      { op: 'add-address', change: 'add', dev: 'twill0', cidr: '10.244.9.0/32' },
      { op: 'del-address', change: 'remove', dev: 'twill0', cidr: '10.244.0.0/32' },
    ]);
    assert.equal(ops[0]?.op, 'add-address');
    assert.equal(ops.at(-1)?.op, 'del-address', 'the old address goes after the routes moved');
  });

  test('duplicate routes for one destination: one kept, the others deleted', () => {
    const d = compileRouting(snap());
    const cur = asCurrent(d);
    const stray = { dst: '10.244.1.0/26', type: 'unicast' as const, gateway: '192.0.2.12', dev: 'eth0', protocol: 116 };
    cur.routes.push(stray);
    assert.deepEqual(planRouting(cur, d), [{ op: 'del-route', change: 'remove', route: stray }]);
  });

  test('a link-scope route where a gateway route is wanted is replaced, a stray one deleted with its scope', () => {
    const d = compileRouting(snap());
    const cur = asCurrent(d);
    const linkScoped = { dst: '10.244.1.0/26', type: 'unicast' as const, gateway: '10.244.1.0', dev: 'twill0', onlink: true as const, protocol: 116, scope: 'link' as const };
    const stray = { dst: '10.244.9.0/26', type: 'unicast' as const, dev: 'eth0', protocol: 116, scope: 'link' as const };
    cur.routes = cur.routes.map((r) => (r.dst === linkScoped.dst ? linkScoped : r)).concat(stray);
    assert.deepEqual(planRouting(cur, d), [
      { op: 'put-route', change: 'change', route: d.routes.find((r) => r.dst === '10.244.1.0/26') },
      { op: 'del-route', change: 'remove', route: stray },
    ]);
  });

  test('pod routes through host veths are not routing’s to own', () => {
    assert.equal(ownsRoute({ dst: '10.244.0.5/32', type: 'unicast', dev: 'twl0123456789a', protocol: 116 }), false);
    assert.equal(ownsRoute({ dst: '10.244.0.0/26', type: 'blackhole', protocol: 116 }), true);
    assert.equal(ownsRoute({ dst: '10.0.0.0/8', type: 'unicast', dev: 'eth0', protocol: 4 }), false);
  });
});

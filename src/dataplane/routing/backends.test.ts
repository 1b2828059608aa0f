// One contract, every backend in the registry: properties that must hold for any cluster, checked
// on random clusters (fast-check). A new backend gets this suite by being registered.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { cidrContains, cidrOverlaps, parseCidr, parseIp } from '../../util/ip.js';
import { ROUTE_PROTOCOL, VXLAN_DEVICE } from '../kernel/names.js';
import { compileRouting } from './compile.js';
import { planRouting } from './plan.js';
import { backends } from './registry.js';
import { asCurrent } from './testing/as-current.js';
import type { DesiredRouting, PeerNode, RoutingSnapshot } from './types.js';
import { vtepMac } from './vxlan/vtep.js';

const SELF_BLOCK = '10.244.0.0/26';

// Blocks come from a small set so that conflicts between peers actually happen.
const block = fc.integer({ min: 0, max: 11 }).map((i) => `10.244.${1 + (i >> 2)}.${(i & 3) * 64}/26`);
const peerArb = fc.record({
  host: fc.integer({ min: 12, max: 250 }),
  backend: fc.constantFrom('vxlan' as const, 'host-gw' as const),
  blocks: fc.array(block, { maxLength: 3 }),
  goodVtep: fc.boolean(),
});

function clusterArb(backend: keyof typeof backends): fc.Arbitrary<RoutingSnapshot> {
  return fc
    .record({ peers: fc.array(peerArb, { maxLength: 8 }), directRouting: fc.boolean(), mtu: fc.integer({ min: 1400, max: 9000 }) })
    .map(({ peers, directRouting, mtu }) => ({
      self: { name: 'self', underlayIP: '192.0.2.11', underlayCIDR: '192.0.2.0/25', underlayIface: 'eth0', underlayMTU: mtu, blocks: [SELF_BLOCK] },
      peers: peers.map(
        (p, i): PeerNode => ({
          name: `n${i}`,
          underlayIP: `192.0.2.${p.host}`,
          backend: p.backend,
          blocks: p.blocks,
          ...(p.backend === 'vxlan' ? { vtepMAC: p.goodVtep ? vtepMac(`n${i}`) : '01:00:5e:00:00:01', vtepIP: p.blocks[0]?.split('/')[0] } : {}),
        }),
      ),
      config: { backend, vxlan: { vni: 4096, port: 4789, directRouting } },
    }));
}

function checkContract(snap: RoutingSnapshot, d: DesiredRouting): void {
  const own = parseCidr(SELF_BLOCK);
  assert.ok(d.routes.every((r) => r.protocol === ROUTE_PROTOCOL), 'every route carries the Twill protocol');
  assert.deepEqual(
    d.routes.filter((r) => r.type === 'blackhole').map((r) => r.dst),
    [SELF_BLOCK],
    'exactly the own block is blackholed',
  );
  const unicast = d.routes.filter((r) => r.type === 'unicast');
  for (const [i, r] of unicast.entries()) {
    assert.ok(!cidrOverlaps(parseCidr(r.dst), own), `${r.dst} does not overlap the own block`);
    for (const s of unicast.slice(i + 1)) assert.ok(!cidrOverlaps(parseCidr(r.dst), parseCidr(s.dst)), `${r.dst} and ${s.dst} do not overlap`);
    if (r.dev === VXLAN_DEVICE) {
      const n = d.neighbors.find((x) => x.ip === r.gateway);
      assert.ok(r.onlink && n, `${r.dst} via twill0 has an onlink gateway with a neighbour`);
      assert.ok(d.fdb.some((f) => f.mac === n.mac), `the neighbour's MAC ${n.mac} has an FDB entry`);
    } else {
      assert.equal(r.dev, snap.self.underlayIface);
      assert.ok(cidrContains(parseCidr(snap.self.underlayCIDR), parseIp(r.gateway!)), `${r.dst}: a direct gateway shares our segment`);
    }
  }
  assert.equal(d.device !== undefined, snap.config.backend === 'vxlan', 'twill0 exists exactly for vxlan');
  assert.equal(d.podMTU, snap.self.underlayMTU - (d.device ? 50 : 0));
  if (d.device) assert.equal(d.device.mtu, d.podMTU);
  // Every peer holding a block is either reached or explained.
  for (const p of snap.peers) {
    if (p.blocks.length === 0) continue;
    const routed = unicast.some((r) => p.blocks.includes(r.dst) && (r.gateway === p.underlayIP || r.gateway === p.vtepIP));
    const explained = d.peerErrors.some((e) => e.peer === p.name);
    assert.ok(routed || explained, `peer ${p.name} is reached or explained`);
  }
}

describe('routing backend contract', () => {
  for (const name of Object.keys(backends) as (keyof typeof backends)[]) {
    test(`${name}: invariants hold, compile is order-independent, re-applying plans nothing`, () => {
      fc.assert(
        fc.property(clusterArb(name), (snap) => {
          const d = compileRouting(snap);
          checkContract(snap, d);
          assert.deepEqual(compileRouting({ ...snap, peers: [...snap.peers].reverse() }), d);
          assert.deepEqual(planRouting(asCurrent(d), d), []);
        }),
        { numRuns: 200 },
      );
    });
  }
});

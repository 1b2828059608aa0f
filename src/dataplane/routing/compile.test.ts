// Golden tests of compileRouting, one file per scenario in testdata/ (UPDATE_GOLDEN=1 rewrites).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isTwillError } from '../../util/errors.js';
import { compileRouting } from './compile.js';
import { renderRouting } from './render.js';
import { assertGolden } from '../../../test/support/golden.js';
import type { PeerNode, RoutingConfig, RoutingSnapshot, SelfNode } from './types.js';
import { vtepMac } from './vxlan/vtep.js';

const TESTDATA = join(import.meta.dirname, 'testdata');

// Segment A is 192.0.2.0/25; node-c sits on segment B (192.0.2.128/25) behind a router.
const self: SelfNode = {
  name: 'node-a',
  underlayIP: '192.0.2.11',
  underlayCIDR: '192.0.2.0/25',
  underlayIface: 'eth0',
  underlayMTU: 1500,
  blocks: ['10.244.0.0/26'],
};

function peer(name: string, underlayIP: string, blocks: string[], extra: Partial<PeerNode> = {}): PeerNode {
  const first = blocks[0]?.split('/')[0];
  return { name, underlayIP, backend: 'vxlan', vtepMAC: vtepMac(name), vtepIP: first, blocks, ...extra };
}

const nodeB = peer('node-b', '192.0.2.12', ['10.244.0.64/26', '10.244.3.0/26']);
const nodeC = peer('node-c', '192.0.2.139', ['10.244.1.0/26']);

const vxlan: RoutingConfig = { backend: 'vxlan', vxlan: { vni: 4096, port: 4789, directRouting: false } };
const direct: RoutingConfig = { backend: 'vxlan', vxlan: { vni: 4096, port: 4789, directRouting: true } };
const hostGw: RoutingConfig = { backend: 'host-gw', vxlan: vxlan.vxlan };

const cases: Record<string, RoutingSnapshot> = {
  'vxlan-basic': { self, peers: [nodeC, nodeB], config: vxlan },
  'vxlan-direct-routing': { self, peers: [nodeB, nodeC], config: direct },
  'host-gw': { self, peers: [nodeB, nodeC], config: hostGw },
  'vxlan-custom': {
    self: { ...self, underlayMTU: 9001, underlayIface: 'ens5', blocks: ['10.244.5.0/26', '10.244.9.64/26', 'fd00:10:244::/64'], vtepMAC: '0a:00:00:00:00:01' },
    peers: [nodeB],
    config: { backend: 'vxlan', vxlan: { vni: 42, port: 8472, directRouting: false } },
  },
  'self-without-blocks': { self: { ...self, blocks: [] }, peers: [nodeB], config: vxlan },
  // Mid-migration and broken peers: what is reachable is routed, the rest is reported.
  'vxlan-mixed-peers': {
    self,
    peers: [
      nodeB,
      peer('hgw-near', '192.0.2.20', ['10.244.2.0/26'], { backend: 'host-gw', vtepMAC: undefined, vtepIP: undefined }),
      peer('hgw-far', '192.0.2.140', ['10.244.2.64/26'], { backend: 'host-gw', vtepMAC: undefined, vtepIP: undefined }),
      peer('bad-ip', 'not-an-ip', ['10.244.4.0/26']),
      peer('bad-blocks', '192.0.2.21', ['10.244.0.32/27', 'fd00:10:244:1::/64', 'junk', '10.244.6.0/26']),
      peer('dup-mac', '192.0.2.22', ['10.244.7.0/26'], { vtepMAC: vtepMac('node-b') }),
      peer('steals-b', '192.0.2.23', ['10.244.3.0/26']),
      peer('empty', '192.0.2.24', []),
      peer('node-a', '192.0.2.11', ['10.244.0.0/26']),
      peer('node-b', '192.0.2.99', ['10.244.8.0/26']),
      peer('same-ip', '192.0.2.11', ['10.244.10.0/26']),
      peer('bad-vtep', '192.0.2.150', ['10.244.11.0/26'], { vtepMAC: 'ff:ff:ff:ff:ff:ff' }),
    ],
    config: vxlan,
  },
  'host-gw-mixed-peers': {
    self,
    peers: [nodeB, nodeC, peer('hgw-near', '192.0.2.20', ['10.244.2.0/26'], { backend: 'host-gw', vtepMAC: undefined, vtepIP: undefined })],
    config: hostGw,
  },
};

describe('compileRouting goldens', () => {
  for (const [name, snap] of Object.entries(cases)) {
    test(name, () => {
      assertGolden(join(TESTDATA, `${name}.golden`), renderRouting(compileRouting(snap)));
    });
  }
});

describe('compileRouting', () => {
  test('output does not depend on peer order', () => {
    const snap = cases['vxlan-mixed-peers']!;
    const reversed = { ...snap, peers: [...snap.peers].reverse() };
    // Duplicate names resolve by input order, so drop the second node-b for this comparison.
    const dedup = (s: RoutingSnapshot): RoutingSnapshot => ({ ...s, peers: s.peers.filter((p) => p.underlayIP !== '192.0.2.99') });
    assert.deepEqual(compileRouting(dedup(reversed)), compileRouting(dedup(snap)));
  });

  test('host-gw refusal names both addresses and suggests vxlan or directRouting', () => {
    const d = compileRouting(cases['host-gw']!);
    assert.equal(d.peerErrors.length, 1);
    const e = d.peerErrors[0]!;
    assert.equal(e.peer, 'node-c');
    for (const s of ['192.0.2.139', '192.0.2.11', '192.0.2.0/25', 'vxlan', 'directRouting']) assert.ok(e.reason.includes(s), `reason mentions ${s}`);
    assert.ok(!d.routes.some((r) => r.dst === '10.244.1.0/26'), 'no route to the refused peer');
  });

  test('vtepMac is stable, unicast and locally administered', () => {
    assert.equal(vtepMac('node-a'), vtepMac('node-a'));
    assert.notEqual(vtepMac('node-a'), vtepMac('node-b'));
    const first = parseInt(vtepMac('node-a').slice(0, 2), 16);
    assert.equal(first & 0x03, 0x02);
  });

  test('broken self or config is a CONFIG_INVALID error saying what to fix', () => {
    const bad: [Partial<SelfNode>, Partial<RoutingConfig>, RegExp][] = [
      [{ underlayIP: '192.0.3.1' }, {}, /underlayCIDR/],
      [{ underlayMTU: 1000 }, {}, /underlayMTU/],
      [{ blocks: ['10.244.0.0/33'] }, {}, /self\.blocks/],
      [{ underlayIface: '' }, {}, /underlayIface/],
      [{}, { vxlan: { vni: 0, port: 4789, directRouting: false } }, /vni/],
      [{}, { backend: 'udp' as never }, /backend/],
    ];
    for (const [s, c, re] of bad) {
      assert.throws(
        () => compileRouting({ self: { ...self, ...s }, peers: [], config: { ...vxlan, ...c } }),
        (e: unknown) => isTwillError(e, 'CONFIG_INVALID') && re.test(e.message),
      );
    }
  });
});

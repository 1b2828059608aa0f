// Golden tests of compileRouting, one file per scenario in testdata/ (UPDATE_GOLDEN=1 rewrites).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isTwillError } from '../../util/errors.js';
import { cidrOverlaps, parseCidr } from '../../util/ip.js';
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

  test('a block overlapping an earlier claim is skipped and names the earliest holder, as a scan in claim order would', () => {
    // Blocks of mixed sizes from a small space, so that covering and covered blocks meet; own
    // blocks may overlap each other. host-gw: no VTEP checks, only block claims decide.
    const cidr = fc.tuple(fc.integer({ min: 0, max: 7 }), fc.constantFrom(23, 24, 25, 26)).map(([i, p]) => `10.244.${i >> 1}.${(i & 1) * 128}/${p}`);
    const arb = fc.record({ own: fc.array(cidr, { minLength: 1, maxLength: 3 }), peers: fc.array(fc.array(cidr, { maxLength: 3 }), { maxLength: 10 }) });
    fc.assert(
      fc.property(arb, ({ own, peers }) => {
        const own2 = own.map((c) => parseCidr(c)).map((c) => `10.244.${(c.base >> 8n) & 255n}.${c.base & 255n}/${c.prefix}`);
        const snap: RoutingSnapshot = {
          self: { ...self, blocks: own2 },
          peers: peers.map((blocks, i) => ({ name: `p${String(i).padStart(2, '0')}`, underlayIP: `192.0.2.${20 + i}`, backend: 'host-gw', blocks: blocks.map((c) => parseCidr(c)).map((c) => `10.244.${(c.base >> 8n) & 255n}.${c.base & 255n}/${c.prefix}`) })),
          config: hostGw,
        };
        let d;
        try {
          d = compileRouting(snap);
        } catch (e) {
          if (isTwillError(e, 'CONFIG_INVALID')) return; // overlapping own blocks may be refused outright
          throw e;
        }
        // The reference: a linear scan of every claim so far, in claim order.
        const claims: { c: ReturnType<typeof parseCidr>; owner: string }[] = own2.map((c) => ({ c: parseCidr(c), owner: `this node (${self.name})` }));
        const want: string[] = [];
        for (const p of snap.peers) {
          const mine: ReturnType<typeof parseCidr>[] = [];
          for (const text of p.blocks) {
            const c = parseCidr(text);
            const holder = claims.find((x) => cidrOverlaps(x.c, c))?.owner ?? (mine.some((m) => cidrOverlaps(m, c)) ? p.name : undefined);
            if (holder === undefined) mine.push(c);
            else want.push(`${p.name}: block ${text} overlaps a block held by ${holder}; skipped`);
          }
          for (const c of mine) claims.push({ c, owner: p.name });
        }
        assert.deepEqual(d.peerErrors.map((e) => `${e.peer}: ${e.reason}`).filter((r) => r.includes('overlaps')), want);
      }),
      { numRuns: 300 },
    );
  });
});

// Golden tests of compileEncryption (UPDATE_GOLDEN=1 rewrites testdata/*.golden).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertGolden } from '../../../test/support/golden.js';
import { isTwillError } from '../../util/errors.js';
import { compileEncryption } from './compile.js';
import type { EncryptionConfig, EncryptionPeer, EncryptionSelf, EncryptionSnapshot } from './types.js';

const TESTDATA = join(import.meta.dirname, 'testdata');
// Fixed keys (32 bytes each): goldens must not depend on randomness.
const key = (n: number): string => Buffer.alloc(32, n).toString('base64');

const self: EncryptionSelf = { name: 'node-a', underlayIP: '192.0.2.11', underlayMTU: 1500, blocks: ['10.244.0.0/26'], publicKey: key(1) };
const peer = (name: string, ip: string, blocks: string[], k?: number, port = 51871): EncryptionPeer => ({ name, underlayIP: ip, blocks, ...(k ? { wireguard: { publicKey: key(k), port } } : {}) });
const config: EncryptionConfig = { port: 51871, strict: true, nodeTraffic: false, pools: ['10.244.0.0/16'] };

function render(s: EncryptionSnapshot): string {
  const d = compileEncryption(s);
  return [
    `device ${d.device.name} port ${d.device.listenPort} fwmark 0x${d.device.fwmark.toString(16)} mtu ${d.device.mtu}; pod MTU ${d.podMTU}`,
    `rule pref ${d.rule.priority} not fwmark 0x${d.rule.notFwmark.toString(16)} lookup ${d.rule.table}`,
    ...d.peers.map((p) => `peer ${p.node} key ${p.publicKey} endpoint ${p.endpoint} keepalive ${p.persistentKeepalive} allowed ${p.allowedIPs.join(',')}`),
    ...d.routes.map((r) => `route ${r.dst} dev ${r.dev} table ${r.table} proto ${r.protocol}`),
    ...d.peerErrors.map((e) => `error ${e.peer}: ${e.reason}`),
    '--- strict table ---',
    d.strictTable ?? '(none: strict mode off)\n',
  ].join('\n');
}

const cases: Record<string, EncryptionSnapshot> = {
  basic: { self, peers: [peer('node-c', '192.0.2.13', ['10.244.1.0/26'], 3), peer('node-b', '192.0.2.12', ['10.244.0.64/26', '10.244.3.0/26'], 2)], config },
  // A peer without a key yet, a duplicate key, an overlapping block, a bad port: reported, not peered.
  'broken-peers': {
    self,
    peers: [
      peer('node-b', '192.0.2.12', ['10.244.0.64/26'], 2),
      peer('node-c', '192.0.2.13', ['10.244.1.0/26']),
      peer('node-d', '192.0.2.14', ['10.244.2.0/26'], 2),
      peer('node-e', '192.0.2.15', ['10.244.0.0/27'], 5),
      peer('node-f', '192.0.2.16', ['10.244.4.0/26'], 6, 0),
      peer('node-g', '192.0.2.17', ['10.244.5.0/26'], 1),
    ],
    config,
  },
  'node-traffic-dual-stack': {
    self: { ...self, underlayMTU: 9000, blocks: ['10.244.0.0/26', 'fd00:10:244::/64'] },
    peers: [peer('node-b', '192.0.2.12', ['10.244.0.64/26', 'fd00:10:244:1::/64'], 2, 51999)],
    config: { ...config, nodeTraffic: true, port: 51999, pools: ['10.244.0.0/16', 'fd00:10:244::/56'] },
  },
  'not-strict': { self, peers: [peer('node-b', '192.0.2.12', ['10.244.0.64/26'], 2)], config: { ...config, strict: false } },
};

for (const [name, snap] of Object.entries(cases)) {
  test(`compileEncryption: ${name}`, () => {
    assertGolden(join(TESTDATA, `${name}.golden`), render(snap));
    assert.equal(render({ ...snap, peers: [...snap.peers].reverse() }), render(snap), 'peer order does not matter');
  });
}

test('compileEncryption: pod MTU is the underlay MTU minus 60 (IPv4) or 80 (IPv6 underlay)', () => {
  assert.equal(compileEncryption(cases['basic']!).podMTU, 1440);
  assert.equal(compileEncryption({ ...cases['basic']!, self: { ...self, underlayIP: '2001:db8::1' } }).podMTU, 1420);
});

test('compileEncryption: a bad port or underlay address is a config error', () => {
  assert.throws(() => compileEncryption({ ...cases['basic']!, config: { ...config, port: 70000 } }), (e) => isTwillError(e, 'CONFIG_INVALID') && /wireguard.port 70000/.test(e.message));
  assert.throws(() => compileEncryption({ ...cases['basic']!, self: { ...self, underlayIP: 'nope' } }), (e) => isTwillError(e, 'CONFIG_INVALID'));
});

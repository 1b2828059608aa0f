import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WgDeviceState } from '../kernel/wireguard/types.js';
import { compileEncryption } from './compile.js';
import { describeWgChange, planWgDevice } from './plan.js';

const key = (n: number): string => Buffer.alloc(32, n).toString('base64');
const priv = key(9);
const desired = compileEncryption({
  self: { name: 'a', underlayIP: '192.0.2.11', underlayMTU: 1500, blocks: ['10.244.0.0/26'], publicKey: key(1) },
  peers: [
    { name: 'b', underlayIP: '192.0.2.12', blocks: ['10.244.0.64/26'], wireguard: { publicKey: key(2), port: 51871 } },
    { name: 'c', underlayIP: '192.0.2.13', blocks: ['10.244.1.0/26'], wireguard: { publicKey: key(3), port: 51871 } },
  ],
  config: { port: 51871, strict: true, nodeTraffic: false, pools: ['10.244.0.0/16'] },
});
const peerState = (k: number, ip: string, allowed: string[]) => ({ publicKey: key(k), endpoint: `${ip}:51871`, allowedIPs: allowed, lastHandshakeMs: 5, rxBytes: 1, txBytes: 1, persistentKeepalive: 25 });

test('planWgDevice: a fresh device gets key, port, mark and every peer', () => {
  const c = planWgDevice({ listenPort: 0, fwmark: 0, peers: [] }, desired, priv)!;
  assert.equal(c.privateKey, priv);
  assert.equal(c.listenPort, 51871);
  assert.equal(c.fwmark, 0x1117);
  assert.deepEqual(c.peers.map((p) => p.publicKey), [key(2), key(3)]);
  assert.ok(!describeWgChange(c).join().includes(priv), 'descriptions never carry the private key');
});

test('planWgDevice: a converged device needs nothing; one rotated peer changes only that peer, removal first', () => {
  const cur: WgDeviceState = { privateKey: priv, listenPort: 51871, fwmark: 0x1117, peers: [peerState(2, '192.0.2.12', ['10.244.0.64/26', '192.0.2.12/32']), peerState(3, '192.0.2.13', ['10.244.1.0/26', '192.0.2.13/32'])] };
  assert.equal(planWgDevice(cur, desired, priv), undefined);
  const rotated = { ...cur, peers: [peerState(7, '192.0.2.12', ['10.244.0.64/26', '192.0.2.12/32']), cur.peers[1]!] };
  const c = planWgDevice(rotated, desired, priv)!;
  assert.deepEqual(c.peers, [{ publicKey: key(7), remove: true }, { publicKey: key(2), endpoint: '192.0.2.12:51871', allowedIPs: ['10.244.0.64/26', '192.0.2.12/32'], persistentKeepalive: 25 }]);
  assert.equal(c.privateKey, undefined);
  const own = planWgDevice(cur, desired, key(10))!;
  assert.deepEqual(own.peers, []);
  assert.equal(own.privateKey, key(10), 'our own rotation: only the private key');
});

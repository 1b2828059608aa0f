// Golden bytes of kernel WireGuard's generic netlink messages: the kernel path cannot run on this
// kernel (no module), so its encoding is pinned here, attribute by attribute, against
// <linux/wireguard.h>. UPDATE_GOLDEN=1 rewrites testdata/*.hex.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertGolden } from '../../../../test/support/golden.js';
import { decodeGetDevice, encodeDeviceDump, encodeGetDevice, encodeSetDevice, encodeSockaddr } from './genl-codec.js';
import type { WgDeviceState } from './types.js';

const TESTDATA = join(import.meta.dirname, 'testdata');
const key = (n: number): string => Buffer.alloc(32, n).toString('base64');

/** One attribute per line: offset, then hex in 4-byte groups (what a reviewer diffs). */
function dump(b: Buffer): string {
  const lines: string[] = [];
  for (let o = 0; o < b.length; o += 16) {
    const row = b.subarray(o, o + 16).toString('hex').match(/.{1,8}/g)!.join(' ');
    lines.push(`${o.toString().padStart(4, '0')}  ${row}`);
  }
  return lines.join('\n') + '\n';
}

test('encodeSetDevice: private key, port, fwmark, a removed peer and a full peer (golden)', () => {
  const msg = encodeSetDevice('twill-wg', {
    privateKey: key(1),
    listenPort: 51871,
    fwmark: 0x7117,
    peers: [
      { publicKey: key(2), remove: true },
      { publicKey: key(3), endpoint: '192.0.2.12:51871', allowedIPs: ['10.244.0.64/26', 'fd00:10:244:1::/64'], persistentKeepalive: 25 },
    ],
  });
  assertGolden(join(TESTDATA, 'set-device.hex'), dump(msg));
  // Spot checks a reader can verify against the header without the golden file:
  assert.equal(msg.readUInt16LE(0), 4 + 9, 'IFNAME attribute: "twill-wg\\0"');
  assert.equal(msg.readUInt16LE(2), 2, 'WGDEVICE_A_IFNAME');
  assert.equal(msg.readUInt16LE(16 + 2), 3, 'WGDEVICE_A_PRIVATE_KEY follows at the next 4-byte boundary');
});

test('encodeSetDevice: only the private key (a rotation) and the GET request (golden)', () => {
  assertGolden(join(TESTDATA, 'set-private-key.hex'), dump(encodeSetDevice('twill-wg', { privateKey: key(4), peers: [] })));
  assertGolden(join(TESTDATA, 'get-device.hex'), dump(encodeGetDevice('twill-wg')));
});

test('encodeSockaddr: sockaddr_in with the port in network order; sockaddr_in6', () => {
  assert.equal(encodeSockaddr('192.0.2.12:51871').toString('hex'), '0200ca9fc000020c0000000000000000');
  assert.equal(encodeSockaddr('[2001:db8::1]:51871').toString('hex'), '0a00ca9f00000000' + '20010db8000000000000000000000001' + '00000000');
});

test('decodeGetDevice: a dump split over two messages decodes to one device', () => {
  const dev: WgDeviceState = {
    privateKey: key(1), listenPort: 51871, fwmark: 0x7117,
    peers: [
      { publicKey: key(2), endpoint: '192.0.2.12:51871', allowedIPs: ['10.244.0.64/26', 'fd00:10:244:1::/64'], lastHandshakeMs: 1_700_000_000_250, rxBytes: 2 ** 40, txBytes: 7, persistentKeepalive: 25 },
    ],
  };
  const second: WgDeviceState = { ...dev, peers: [{ publicKey: key(3), allowedIPs: ['10.244.1.0/26'], lastHandshakeMs: 0, rxBytes: 0, txBytes: 0, persistentKeepalive: 0 }] };
  const got = decodeGetDevice([encodeDeviceDump('twill-wg', dev), encodeDeviceDump('twill-wg', second)]);
  assert.deepEqual(got, { ...dev, peers: [...dev.peers, ...second.peers] });
});

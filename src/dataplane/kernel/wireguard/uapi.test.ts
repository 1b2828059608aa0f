import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTwillError } from '../../../util/errors.js';
import { encodeUapiSet, parseUapiGet, uapiErrno } from './uapi.js';

const key = (n: number): string => Buffer.alloc(32, n).toString('base64');

test('encodeUapiSet: keys in hex, removal, replace_allowed_ips, ends with an empty line', () => {
  const text = encodeUapiSet({
    privateKey: key(1),
    listenPort: 51871,
    fwmark: 0x7117,
    peers: [{ publicKey: key(2), remove: true }, { publicKey: key(3), endpoint: '192.0.2.12:51871', allowedIPs: ['10.244.0.64/26', 'fd00:10:244:1::/64'], persistentKeepalive: 25 }],
  });
  assert.equal(text, [
    'set=1',
    `private_key=${'01'.repeat(32)}`,
    'listen_port=51871',
    'fwmark=28951',
    `public_key=${'02'.repeat(32)}`,
    'remove=true',
    `public_key=${'03'.repeat(32)}`,
    'endpoint=192.0.2.12:51871',
    'persistent_keepalive_interval=25',
    'replace_allowed_ips=true',
    'allowed_ip=10.244.0.64/26',
    'allowed_ip=fd00:10:244:1::/64',
    '', '',
  ].join('\n'));
});

test('parseUapiGet: a device as wireguard-go answers it', () => {
  const answer = [
    `private_key=${'01'.repeat(32)}`, 'listen_port=51871', 'fwmark=28951',
    `public_key=${'02'.repeat(32)}`, `preshared_key=${'00'.repeat(32)}`, 'protocol_version=1', 'endpoint=192.0.2.12:51871',
    'last_handshake_time_sec=1700000000', 'last_handshake_time_nsec=250000000', 'tx_bytes=100', 'rx_bytes=200', 'persistent_keepalive_interval=25',
    'allowed_ip=10.244.0.64/26', 'allowed_ip=10.244.3.0/26',
    `public_key=${'03'.repeat(32)}`, 'last_handshake_time_sec=0', 'last_handshake_time_nsec=0', 'tx_bytes=0', 'rx_bytes=0', 'persistent_keepalive_interval=0',
    'errno=0', '', '',
  ].join('\n');
  assert.deepEqual(parseUapiGet(answer), {
    privateKey: key(1), listenPort: 51871, fwmark: 28951,
    peers: [
      { publicKey: key(2), endpoint: '192.0.2.12:51871', allowedIPs: ['10.244.0.64/26', '10.244.3.0/26'], lastHandshakeMs: 1_700_000_000_250, rxBytes: 200, txBytes: 100, persistentKeepalive: 25 },
      { publicKey: key(3), allowedIPs: [], lastHandshakeMs: 0, rxBytes: 0, txBytes: 0, persistentKeepalive: 0 },
    ],
  });
});

test('uapi errors: a failed set and a garbled answer', () => {
  assert.equal(uapiErrno('errno=-22\n\n'), -22);
  assert.throws(() => parseUapiGet('errno=1\n\n'), (e) => isTwillError(e, 'KERNEL'));
  assert.throws(() => uapiErrno('hello'), (e) => isTwillError(e, 'DECODE'));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SERVICES_MASQUERADE_MARK, WIREGUARD_FWMARK } from './names.js';

// kube-proxy (iptables and nftables modes) marks packets with 0x4000 (masquerade) and 0x8000 (drop).
const KUBE_PROXY_MARKS = 0x4000 | 0x8000;

test('marks: WireGuard\'s fwmark shares no bit with the masquerade mark or kube-proxy\'s', () => {
  // A shared bit makes the services table masquerade WireGuard's own UDP packets (random source
  // ports: peers roam their endpoints, and every reconcile sets them back).
  assert.equal(WIREGUARD_FWMARK & SERVICES_MASQUERADE_MARK, 0, `0x${WIREGUARD_FWMARK.toString(16)} & 0x${SERVICES_MASQUERADE_MARK.toString(16)}`);
  assert.equal(WIREGUARD_FWMARK & KUBE_PROXY_MARKS, 0);
  assert.notEqual(WIREGUARD_FWMARK, 0, 'a zero mark would be no mark at all');
});

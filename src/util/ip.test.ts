import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, formatIp, parseCidr, parseIp, subnets, tryParseIp, tryParseCidr, cidrContains, cidrCovers, ipToBytes, ipFromBytes } from './ip.js';

test('IPv4 parse and format round-trip', () => {
  for (const s of ['0.0.0.0', '10.244.1.5', '255.255.255.255', '192.0.2.1']) assert.equal(formatIp(parseIp(s)), s);
  for (const bad of ['256.1.1.1', '1.2.3', '01.2.3.4', 'a.b.c.d', '', '1.2.3.4.5', ' 1.2.3.4']) {
    assert.equal(tryParseIp(bad), undefined, bad);
  }
});

test('IPv6 parse and RFC 5952 format', () => {
  assert.equal(formatIp(parseIp('fd00:10:244:0:0:0:0:1')), 'fd00:10:244::1');
  assert.equal(formatIp(parseIp('::')), '::');
  assert.equal(formatIp(parseIp('::1')), '::1');
  assert.equal(formatIp(parseIp('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  assert.equal(formatIp(parseIp('::ffff:192.0.2.1')), '::ffff:c000:201');
  for (const bad of [':::', '1::2::3', 'g::1', '1:2:3:4:5:6:7:8:9']) assert.equal(tryParseIp(bad), undefined, bad);
});

test('CIDRs: normalisation, containment, splitting', () => {
  const c = parseCidr('10.244.1.7/24');
  assert.equal(formatCidr(c), '10.244.1.0/24');
  assert.ok(cidrContains(c, parseIp('10.244.1.255')));
  assert.ok(!cidrContains(c, parseIp('10.244.2.0')));
  assert.ok(cidrCovers(parseCidr('10.244.0.0/16'), parseCidr('10.244.3.0/26')));
  assert.ok(!cidrCovers(parseCidr('10.244.3.0/26'), parseCidr('10.244.0.0/16')));
  const blocks = [...subnets(parseCidr('10.244.0.0/24'), 26)].map(formatCidr);
  assert.deepEqual(blocks, ['10.244.0.0/26', '10.244.0.64/26', '10.244.0.128/26', '10.244.0.192/26']);
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/-1', 'x/8', '10.0.0.0/08']) assert.equal(tryParseCidr(bad), undefined, bad);
});

test('bytes round-trip for both families', () => {
  for (const s of ['10.1.2.3', 'fd00::abcd']) assert.equal(formatIp(ipFromBytes(ipToBytes(parseIp(s)))), s);
});

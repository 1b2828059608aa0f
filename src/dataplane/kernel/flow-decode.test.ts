// Decoding NFLOG packets and conntrack events, from bytes captured on this kernel (6.18): a TCP
// connection to 127.0.0.1:8080 in a scratch namespace, logged by
// `ct state new limit rate 100/second burst 10 packets log prefix "twill A pi_0123456789ab" group 7`,
// then `conntrack -F` for the destroy event (accounting and timestamps on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeConntrack } from './conntrack.js';
import { decodeNflog, nflogConfigMessage, parsePacketHeaders, SeqGaps } from './nflog.js';
import { ipText } from './nlattr.js';

const cap = JSON.parse(readFileSync(new URL('./testdata/flow-capture.json', import.meta.url), 'utf8')) as { nflog: string[]; ct: string[] };
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

test('an NFLOG packet message: prefix, sequence, output device and the TCP SYN it carried', () => {
  const [p] = decodeNflog(hex(cap.nflog[0]!));
  assert.deepEqual(p, {
    prefix: 'twill A pi_0123456789ab',
    seq: 0,
    outIfindex: 1,
    headers: { family: 4, src: '127.0.0.1', dst: '127.0.0.1', length: 60, proto: 6, srcPort: 42208, dstPort: 8080, tcpFlags: 2, tcpSeq: 2673498880 },
  });
});

test('conntrack new and destroy events: tuples, id, and counts and timestamps at the end', () => {
  const [n] = decodeConntrack(hex(cap.ct[0]!));
  const [d] = decodeConntrack(hex(cap.ct[1]!));
  const tuple = { family: 4, src: '127.0.0.1', dst: '127.0.0.1', proto: 6, srcPort: 42208, dstPort: 8080 };
  assert.deepEqual(n, { type: 'new', orig: tuple, reply: { ...tuple, srcPort: 8080, dstPort: 42208 }, nat: false, id: 3009028075 });
  assert.equal(d!.type, 'destroy');
  assert.equal(d!.id, n!.id);
  assert.deepEqual(d!.origCounters, { packets: 5, bytes: 270 });
  assert.deepEqual(d!.replyCounters, { packets: 5, bytes: 273 });
  assert.ok(d!.stopNs! > d!.startNs! && d!.stopNs! - d!.startNs! < 1e9, 'start and stop within a second');
});

test('a datagram read into a larger reused buffer: only its length is decoded, appended to the events so far', () => {
  const n = hex(cap.ct[0]!);
  const d = hex(cap.ct[1]!);
  const scratch = Buffer.alloc(4096, 0xab);
  d.copy(scratch);
  const evs = decodeConntrack(n);
  assert.equal(decodeConntrack(scratch, d.length, evs), evs);
  assert.deepEqual(evs.map((e) => e.type), ['new', 'destroy']);
  // A shorter datagram read over it later: the earlier bytes beyond its length are not read.
  n.copy(scratch);
  assert.deepEqual(decodeConntrack(scratch, n.length).map((e) => e.type), ['new']);
  // Datagrams in slots of one batch (recvmmsg): each decoded from its own offset and length only.
  d.copy(scratch, 1024);
  const batch = decodeConntrack(scratch, d.length, [], true, 1024);
  assert.deepEqual(batch.map((e) => [e.type, e.orig.srcPort]), [['destroy', 42208]]);
  assert.deepEqual(decodeConntrack(scratch, d.length - 1, [], true, 1024), [], 'a message longer than its datagram is not read past the end');
});

test('messages of other kinds, truncated bytes and garbage decode to nothing, without throwing', () => {
  assert.deepEqual(decodeNflog(hex(cap.ct[0]!)), []);
  assert.deepEqual(decodeConntrack(hex(cap.nflog[0]!)), []);
  const full = hex(cap.ct[1]!);
  for (let n = 0; n < full.length; n += 7) assert.doesNotThrow(() => decodeConntrack(full.subarray(0, n)));
  assert.deepEqual(decodeConntrack(Buffer.alloc(64, 0xff)), []);
});

test('packet headers: IPv6 with UDP ports, ICMP type and code, too short', () => {
  const v6 = Buffer.alloc(48);
  v6[0] = 0x60;
  v6.writeUInt16BE(8, 4);
  v6[6] = 17;
  v6[23] = 1; // src ::1
  v6.writeUInt16BE(0xfd00, 24);
  v6[39] = 5;
  v6.writeUInt16BE(5353, 40);
  v6.writeUInt16BE(53, 42);
  assert.deepEqual(parsePacketHeaders(v6), { family: 6, src: '::1', dst: 'fd00::5', length: 48, proto: 17, srcPort: 5353, dstPort: 53 });
  const icmp = Buffer.alloc(28);
  icmp[0] = 0x45;
  icmp[9] = 1;
  icmp[20] = 8;
  assert.equal(parsePacketHeaders(icmp)?.icmpType, 8);
  assert.equal(parsePacketHeaders(Buffer.from([0x45, 0])), undefined);
});

test('IPv6 text form compresses the longest zero run', () => {
  assert.equal(ipText(Buffer.from('fd000010024400000000000000000005', 'hex')), 'fd00:10:244::5');
  assert.equal(ipText(Buffer.from('00000000000000000000000000000000', 'hex')), '::');
  assert.equal(ipText(Buffer.from('20010db8000000010000000000000001', 'hex')), '2001:db8:0:1::1');
});

test('sequence gaps count lost packets; a restart is no loss', () => {
  const g = new SeqGaps();
  for (const s of [0, 1, 2, 5, 6, 0, 1, 3]) g.see(s);
  assert.equal(g.lost, 3);
});

test('the NFLOG bind message for group 7', () => {
  const m = nflogConfigMessage(7, 1, [Buffer.from([5, 0, 1, 0, 1, 0, 0, 0])]);
  assert.equal(m.toString('hex'), '1c000000010405000100000000000000000000070500010001000000');
});

// The netlink encoding of incremental policy transactions, without root: the batch for a golden
// diff decoded back from its bytes (framing, lengths, nesting, byte order), the key bytes of
// prefixes and ranges, and the shapes that must fall back to `nft -f`. That the kernel and nft
// read these batches as the same ruleset is netlink.kernel.test.ts's job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertGolden as assertGoldenFile } from '../../test/support/golden.js';
import { compilePolicy } from './compile.js';
import { diffModels, type DiffOp } from './diff.js';
import { encodeDiff, parseIPv6 } from './netlink.js';
import { PODS, POLICIES, shopSnapshot } from './testing/fixtures.js';
import type { NftSet } from './model.js';

const MSG: Record<number, string> = { 0x10: 'BATCH_BEGIN', 0x11: 'BATCH_END', 0xa03: 'NEWCHAIN', 0xa05: 'DELCHAIN', 0xa06: 'NEWRULE', 0xa08: 'DELRULE', 0xa09: 'NEWSET', 0xa0b: 'DELSET', 0xa0c: 'NEWSETELEM', 0xa0e: 'DELSETELEM' };
const FLAGS: [number, string][] = [[0x1, 'REQUEST'], [0x4, 'ACK'], [0x400, 'CREATE'], [0x800, 'APPEND']];

/** Netlink messages → text, read from the bytes alone (so a wrong length shows up as garbage). */
function decode(buf: Buffer): string {
  const out: string[] = [];
  const attrs = (b: Buffer, depth: number): void => {
    for (let off = 0; off < b.length; ) {
      const len = b.readUInt16LE(off);
      const type = b.readUInt16LE(off + 2);
      assert.ok(len >= 4 && off + len <= b.length, `attribute at ${off} has length ${len} in ${b.length} bytes`);
      const v = b.subarray(off + 4, off + len);
      const pad = '  '.repeat(depth);
      if (type & 0x8000) {
        out.push(`${pad}${type & 0x7fff}:`);
        attrs(v, depth + 1);
      } else {
        const s = v.length > 1 && v[v.length - 1] === 0 && /^[\x20-\x7e]+$/.test(v.subarray(0, -1).toString('latin1')) ? JSON.stringify(v.subarray(0, -1).toString('latin1')) : v.toString('hex').replace(/(.{8})(?=.)/g, '$1 ');
        out.push(`${pad}${type} = ${s}`);
      }
      off += (len + 3) & ~3;
    }
  };
  for (let off = 0; off < buf.length; ) {
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt16LE(off + 4);
    const flags = buf.readUInt16LE(off + 6);
    out.push(`seq ${buf.readUInt32LE(off + 8)} ${MSG[type] ?? type} family ${buf[off + 16]} res ${buf.readUInt16BE(off + 18)} ${FLAGS.filter(([f]) => flags & f).map(([, n]) => n).join('|')}`);
    attrs(buf.subarray(off + 20, off + len), 1);
    off += len;
  }
  return out.join('\n') + '\n';
}

test('golden batch: a policy deleted (chains, maps, elements, rules, flushes and deletes), decoded from its bytes', () => {
  const d = diffModels(compilePolicy(shopSnapshot()), compilePolicy(shopSnapshot({ policies: POLICIES.filter((p) => p.metadata.name !== 'web') })));
  const e = encodeDiff('twill-policy', d.ops);
  assert.ok('batch' in e, JSON.stringify(e));
  const { buf, first, last } = e.batch.encode(100);
  assert.equal(first, 100);
  assert.equal(last, 100 + d.ops.length + 1, 'one message per step, between batch begin and end');
  assertGoldenFile(new URL('./testdata/netlink-policy-deleted.txt', import.meta.url), decode(buf));
});

test('a pod joining is element messages only, one per set', () => {
  const pod = { namespace: 'shop', name: 'web-3', labels: { app: 'web' }, ips: ['10.244.1.12'], node: 'n1', ports: [{ name: 'http', port: 8080, protocol: 'TCP' as const }] };
  const d = diffModels(compilePolicy(shopSnapshot()), compilePolicy(shopSnapshot({ pods: [...PODS, pod] })));
  const e = encodeDiff('twill-policy', d.ops);
  assert.ok('batch' in e);
  const text = decode(e.batch.encode(1).buf);
  assert.deepEqual([...text.matchAll(/^seq \d+ (\w+)/gm)].map((m) => m[1]), ['BATCH_BEGIN', 'DELSETELEM', 'NEWSETELEM', 'NEWSETELEM', 'NEWSETELEM', 'NEWSETELEM', 'BATCH_END']);
  const headers = text.split('\n').filter((l) => l.startsWith('seq '));
  assert.deepEqual(headers.map((h) => /\bACK\b/.test(h)), headers.map((_, i) => i === headers.length - 2), 'only the last message before BATCH_END asks for an ack');
});

const groupMap = (v6 = false): NftSet => ({ name: 'in_x', type: [v6 ? 'ipv6_addr' : 'ipv4_addr', 'inet_proto', 'inet_service'], map: 'verdict', flags: ['interval'], elements: [] });
const keysOf = (set: NftSet, key: string): string[] => {
  const e = encodeDiff('t', [{ op: 'deleteElements', set, elements: [{ key }] }]);
  assert.ok('batch' in e, JSON.stringify(e));
  return [...decode(e.batch.encode(1).buf).matchAll(/^ {8}1 = (.*)$/gm)].map((m) => m[1]!);
};

test('interval keys: prefixes, ranges and single values become inclusive start and end, each field padded to 4 bytes', () => {
  assert.deepEqual(keysOf(groupMap(), '10.244.1.10/31 . tcp . 80'), ['0af4010a 06000000 00500000', '0af4010b 06000000 00500000']);
  assert.deepEqual(keysOf(groupMap(), '0.0.0.0-9.255.255.255 . sctp . 0-65535'), ['00000000 84000000 00000000', '09ffffff 84000000 ffff0000']);
  assert.deepEqual(keysOf(groupMap(), '10.1.2.3 . udp . 53'), ['0a010203 11000000 00350000', '0a010203 11000000 00350000']);
  assert.deepEqual(keysOf(groupMap(), '10.1.2.3 . 0-255 . 0-65535'), ['0a010203 00000000 00000000', '0a010203 ff000000 ffff0000'], 'any protocol, any port');
  assert.deepEqual(keysOf(groupMap(), '10.1.2.99/24 . 6 . 1'), ['0a010200 06000000 00010000', '0a0102ff 06000000 00010000'], 'host bits of a prefix are masked, as nft does');
  assert.deepEqual(keysOf(groupMap(true), 'fd00:10::/32 . tcp . 443'), ['fd000010 00000000 00000000 00000000 06000000 01bb0000', 'fd000010 ffffffff ffffffff ffffffff 06000000 01bb0000']);
  const endpoints: NftSet = { name: 'endpoints', type: ['ifname', 'ipv4_addr'], flags: [], elements: [] };
  assert.deepEqual(keysOf(endpoints, '"twlweb1" . 10.244.1.10'), ['74776c77 65623100 00000000 00000000 0af4010a']);
});

test('IPv6 text to bytes', () => {
  assert.equal(parseIPv6('::')?.toString('hex'), '0'.repeat(32));
  assert.equal(parseIPv6('fe80::1')?.toString('hex'), 'fe80' + '0'.repeat(27) + '1');
  assert.equal(parseIPv6('1:2:3:4:5:6:7:8')?.toString('hex'), '00010002000300040005000600070008');
  assert.equal(parseIPv6('1::2:3:4:5:6:7')?.toString('hex'), '00010000000200030004000500060007');
  for (const bad of ['1:2:3:4:5:6:7', '1::2::3', '12345::', '::ffff:1.2.3.4', 'g::', '1:2:3:4:5:6:7:8:9', '1:2:3:4::5:6:7:8']) assert.equal(parseIPv6(bad), undefined, bad);
});

test('what the encoder does not know goes to nft -f, with the reason', () => {
  const cases: [DiffOp, RegExp][] = [
    [{ op: 'addChain', chain: { name: 'forward', base: { type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' }, rules: [] } }, /base chain/],
    [{ op: 'addRule', chain: 'x', rule: 'tcp dport 22 accept' }, /shape the netlink encoder does not know/],
    [{ op: 'addCounter', counter: { name: 'c' } }, /named counters/],
    [{ op: 'addSet', set: { name: 's', type: ['ipv4_addr'], flags: ['interval'], elements: [] } }, /not an address \. protocol \. port interval map/],
    [{ op: 'addSet', set: { ...groupMap(), comment: 'x' } }, /has a comment/],
    [{ op: 'addElements', set: groupMap(), elements: [{ key: '10.0.0.1 . tcp . 80', value: 'queue' }] }, /verdict queue/],
    [{ op: 'addElements', set: groupMap(), elements: [{ key: '10.0.0.300 . tcp . 80', value: 'accept' }] }, /address 10\.0\.0\.300/],
    [{ op: 'addElements', set: groupMap(), elements: [{ key: '10.0.0.1 . tcp . 70000', value: 'accept' }] }, /port 70000/],
    [{ op: 'addElements', set: { name: 'r', type: ['ipv4_addr'], flags: ['interval'], elements: [] }, elements: [{ key: '10.0.0.0/8' }] }, /interval set of one field/],
  ];
  for (const [op, why] of cases) {
    const e = encodeDiff('twill-policy', [op]);
    assert.ok('unsupported' in e, `${JSON.stringify(op)} must not be encoded`);
    assert.match(e.unsupported, why);
  }
});

// The fast element encoder against the general one (policy/netlink.ts), byte for byte, over every
// bulk map of every golden case (IPv4 and IPv6, verdict maps, data maps, sets).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NFPROTO_INET, NftBatch } from '../dataplane/kernel/nfnetlink.js';
import { encodeDiff } from '../policy/netlink.js';
import { GOLDEN_CASES } from './compile.test.js';
import { compileServices } from './compiler.js';
import { BULK } from './compile.js';
import { encodeBulkElements } from './elements-encode.js';

const bulk = new Set(BULK.flatMap((b) => [`${b}_v4`, `${b}_v6`]));

describe('bulk elements encoded directly', () => {
  it('are the bytes the general encoder writes, for every bulk map of every golden case', () => {
    let checked = 0;
    const kinds = new Set<string>();
    for (const [name, snap] of Object.entries(GOLDEN_CASES)) {
      for (const s of compileServices(snap).model.sets) {
        if (!bulk.has(s.name) || s.elements.length === 0) continue;
        const general = encodeDiff('twill-services', [{ op: 'addElements', set: s, elements: s.elements }]);
        assert.ok('batch' in general, `${name} ${s.name}: the general encoder refused it`);
        const list = encodeBulkElements(s, s.elements);
        assert.ok(list, `${name} ${s.name}: not encoded directly`);
        const direct = new NftBatch(NFPROTO_INET, 'twill-services');
        direct.addEncodedElements(s.name, list);
        assert.deepEqual(direct.encode(7).buf, general.batch.encode(7).buf, `${name} ${s.name}`);
        checked++;
        kinds.add(`${s.map ?? 'set'} ${s.name.slice(-2)}`);
      }
    }
    assert.ok(checked >= 20, `${checked} maps checked`);
    assert.deepEqual([...kinds].sort(), ['data v4', 'data v6', 'set v4', 'set v6', 'verdict v4', 'verdict v6']);
  });

  it('answers undefined for shapes it does not write (the caller uses the general encoder)', () => {
    const set = { name: 'endpoints_v4', type: ['ipv4_addr', 'inet_proto', 'inet_service', 'integer'], map: 'data' as const, dataType: ['ipv4_addr', 'inet_service'], flags: [], elements: [] };
    assert.ok(encodeBulkElements(set, [{ key: '10.96.0.1 . tcp . 80 . 0', value: '10.244.0.5 . 8080' }]));
    assert.equal(encodeBulkElements(set, [{ key: '10.96.0.1 . tcp . 80-90 . 0', value: '10.244.0.5 . 8080' }]), undefined, 'a port range');
    assert.equal(encodeBulkElements(set, [{ key: '10.96.0.256 . tcp . 80 . 0', value: '10.244.0.5 . 8080' }]), undefined, 'not an address');
    assert.equal(encodeBulkElements(set, [{ key: '10.96.0.1 . tcp . 80 . 0' }]), undefined, 'no value');
    assert.equal(encodeBulkElements({ ...set, flags: ['interval'] }, [{ key: '10.96.0.1 . tcp . 80 . 0', value: '10.244.0.5 . 8080' }]), undefined, 'an interval map');
    const vmap = { name: 'service_ips_v4', type: ['ipv4_addr', 'inet_proto', 'inet_service'], map: 'verdict' as const, flags: [], elements: [] };
    assert.equal(encodeBulkElements(vmap, [{ key: '10.96.0.1 . tcp . 80', value: 'continue' }]), undefined, 'a verdict it does not write');
  });
});

describe('bulk elements encoded directly: malformed fields', () => {
  it('refuses too few or too many fields and stray text', () => {
    const set = { name: 'hairpin_v4', type: ['ipv4_addr', 'ipv4_addr'], flags: [], elements: [] };
    assert.ok(encodeBulkElements(set, [{ key: '10.0.0.1 . 10.0.0.1' }]));
    for (const key of ['10.0.0.1', '10.0.0.1 . 10.0.0.1 . 10.0.0.1', '10.0.0.1 . 10.0.0', '10.0.0.1.5 . 10.0.0.1', '10.0.0.1 .10.0.0.1', '1000.0.0.1 . 10.0.0.1', '']) {
      assert.equal(encodeBulkElements(set, [{ key }]), undefined, JSON.stringify(key));
    }
  });
});

// The draw rule's encoder recognises exactly the rule compile.ts writes; the kernel test
// (apply.kernel.test.ts) checks that what it encodes lists the same as nft's own compilation.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NFPROTO_INET, NftBatch } from '../dataplane/kernel/nfnetlink.js';
import { clusterPick, externalPick, localPick } from './compile.js';
import { encodeDrawRule } from './netlink.js';

const names = (attrs: ReturnType<typeof encodeDrawRule>): string[] =>
  (attrs ?? []).map((a) => {
    const body = a[1] as [number, Buffer][];
    return body[0]![1].toString('latin1').replace(/\0$/, '');
  });

describe('encodeDrawRule', () => {
  const batch = new NftBatch(NFPROTO_INET, 'twill-services');
  test('every draw rule compile.ts writes is encoded, for both families', () => {
    for (const f of [4, 6] as const)
      for (const chain of [clusterPick(f, 3), localPick(f, 2), externalPick(f, 5)]) {
        const draw = chain.rules.at(-1)!;
        assert.deepEqual(names(encodeDrawRule(draw, batch)), ['meta', 'cmp', 'payload', 'meta', 'payload', 'numgen', 'lookup', 'nat'], draw);
      }
  });
  test('other rules, and a draw whose families disagree, are not', () => {
    assert.equal(encodeDrawRule(clusterPick(4, 3).rules[0]!, batch), undefined);
    assert.equal(encodeDrawRule('dnat ip to ip6 daddr . meta l4proto . th dport . numgen random mod 2 map @endpoints_v6', batch), undefined);
    assert.equal(encodeDrawRule('dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 0 map @endpoints_v4', batch), undefined);
  });
});

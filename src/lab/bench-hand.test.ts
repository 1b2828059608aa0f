// Golden tests of the hand-wired bench path (UPDATE_GOLDEN=1 rewrites testdata/).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { assertGolden } from '../../test/support/golden.js';
import { planHandPath, type HandPlan } from './bench-hand.js';

const TESTDATA = join(import.meta.dirname, 'testdata');

function render(p: HandPlan): string {
  const out = [`# hand path ${p.lab}, ${p.backend}, pod MTU ${p.podMtu}`];
  for (const b of p.batches) out.push(`ip -n ${b.netns} -batch -`, ...b.commands.map((c) => `  ${c}`));
  for (const args of p.bridge) out.push(`bridge ${args.join(' ')}`);
  out.push('nft -f (in each node namespace)', ...p.nft.trimEnd().split('\n').map((l) => `  ${l}`));
  out.push(`path ${JSON.stringify(p.path)}`);
  return out.join('\n') + '\n';
}

describe('planHandPath', () => {
  for (const backend of ['vxlan', 'host-gw'] as const) {
    test(`golden: ${backend}`, () => assertGolden(join(TESTDATA, `bench-hand-${backend}.golden`), render(planHandPath('benchk', backend, 1500))));
  }

  test('the pod MTU follows the underlay: VXLAN leaves 50 bytes of headroom, host-gw none', () => {
    assert.equal(planHandPath('x', 'vxlan', 9000).podMtu, 8950);
    assert.equal(planHandPath('x', 'host-gw', 9000).podMtu, 9000);
    const veth = planHandPath('x', 'vxlan', 9000).batches[0]!.commands.find((c) => c.includes('type veth'))!;
    assert.match(veth, /mtu 8950 type veth peer name eth0 netns \S+ mtu 8950$/);
  });

  test('every namespace it names belongs to the lab (so `lab down --name` finds leftovers)', () => {
    const p = planHandPath('benchkv', 'vxlan', 1500);
    for (const ns of [...p.batches.map((b) => b.netns), ...Object.values(p.path).filter((v) => v.startsWith('twl'))]) assert.ok(ns.startsWith('twl-benchkv-'), ns);
  });
});

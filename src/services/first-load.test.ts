import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NftElement } from '../policy/model.js';
import { GOLDEN_CASES } from './compile.test.js';
import { compileServices } from './compiler.js';
import { endpoint, service, slice, snapshot } from './fixtures.js';
import { ELEMENTS_PER_MESSAGE, ELEMENTS_PER_TRANSACTION, encodeFirstLoad, planFirstLoad } from './first-load.js';

describe('first load of a table into a kernel without one', () => {
  it('declares the bulk maps empty, sends every element once, entry maps last in one transaction', () => {
    const n = 3000;
    const snap = snapshot(
      Array.from({ length: n }, (_, i) => service(`s${i}`, { clusterIP: `10.96.${i >> 8}.${i & 255}` })),
      Array.from({ length: n }, (_, i) => slice(`s${i}`, [0, 1, 2].map((k) => endpoint(`10.${245 + k}.${i >> 8}.${i & 255}`, 'n2')))),
    );
    const model = compileServices(snap).model;
    const plan = planFirstLoad(model);
    const bulkNames = new Set(plan.transactions.flat().map((o) => (o.op === 'addElements' ? o.set.name : '')));
    for (const s of plan.skeleton.sets) assert.equal(s.elements.length, bulkNames.has(s.name) ? 0 : model.sets.find((m) => m.name === s.name)!.elements.length, s.name);
    assert.deepEqual(plan.skeleton.chains, model.chains);
    const sent = new Map<string, NftElement[]>();
    for (const t of plan.transactions) {
      for (const o of t) {
        assert.equal(o.op, 'addElements');
        if (o.op !== 'addElements') continue;
        assert.ok(o.elements.length <= ELEMENTS_PER_MESSAGE);
        sent.set(o.set.name, [...(sent.get(o.set.name) ?? []), ...o.elements]);
      }
    }
    for (const s of model.sets.filter((x) => bulkNames.has(x.name))) assert.deepEqual(sent.get(s.name), s.elements, `${s.name}: every element once, in order`);
    assert.equal(plan.elements, [...sent.values()].reduce((a, e) => a + e.length, 0));
    const last = plan.transactions.at(-1)!;
    assert.deepEqual(new Set(last.map((o) => (o.op === 'addElements' ? o.set.name : ''))), new Set(['service_ips_v4']), 'the entry map, whole, in the last transaction');
    for (const t of plan.transactions.slice(0, -1)) {
      assert.ok(t.every((o) => o.op === 'addElements' && !o.set.name.startsWith('service_ips')), 'entry maps only in the last');
      assert.ok(t.reduce((a, o) => a + (o.op === 'addElements' ? o.elements.length : 0), 0) <= ELEMENTS_PER_TRANSACTION);
    }
    const batches = encodeFirstLoad('twill-services', plan.transactions);
    assert.equal(batches?.length, plan.transactions.length);
  });

  it('every golden case encodes (IPv6, NodePorts, affinity, no endpoints)', () => {
    for (const [name, snap] of Object.entries(GOLDEN_CASES)) {
      const plan = planFirstLoad(compileServices(snap).model);
      assert.ok(encodeFirstLoad('twill-services', plan.transactions), name);
    }
  });
});

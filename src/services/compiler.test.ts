// The incremental compiler against the full compile: after any sequence of changes, the table it
// holds is the one a fresh compile of the same objects gives, and its delta, applied to the
// previous table, gives the new one (checked here on the model; apply.kernel.test.ts checks it in
// a kernel).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DiffOp } from '../policy/diff.js';
import type { NftTableModel } from '../policy/model.js';
import { renderFullReplace } from '../policy/render.js';
import type { EndpointSlice, Service } from '../model/types.js';
import { ServicesCompiler, compileServices } from './compiler.js';
import { retainedBy } from '../util/heap.js';
import { endpoint, service, slice } from './fixtures.js';

const node = { name: 'n1', addresses: ['192.0.2.11'] };
const podCidrs = ['10.244.0.0/16'];

/** The model a delta leads to (elements and chains; what the kernel would hold). */
function applyOps(m: NftTableModel, ops: DiffOp[]): NftTableModel {
  const sets = new Map(m.sets.map((s) => [s.name, { ...s, elements: new Map(s.elements.map((e) => [e.key, e.value])) }]));
  const chains = new Map(m.chains.map((c) => [c.name, { ...c, rules: [...c.rules] }]));
  for (const o of ops) {
    if (o.op === 'addSet') sets.set(o.set.name, { ...o.set, elements: new Map() });
    else if (o.op === 'addChain') chains.set(o.chain.name, { ...o.chain, rules: [] });
    else if (o.op === 'deleteElements') for (const e of o.elements) assert.ok(sets.get(o.set.name)!.elements.delete(e.key), `delete of a missing element ${e.key}`);
    else if (o.op === 'addElements')
      for (const e of o.elements) {
        assert.ok(!sets.get(o.set.name)!.elements.has(e.key), `add of an existing element ${e.key}`);
        sets.get(o.set.name)!.elements.set(e.key, e.value);
      }
    else if (o.op === 'flushChain') chains.get(o.chain)!.rules = [];
    else if (o.op === 'addRule') chains.get(o.chain)!.rules.push(o.rule);
    else if (o.op === 'deleteSet') sets.delete(o.set.name);
    else if (o.op === 'deleteChain') chains.delete(o.chain);
  }
  const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return {
    ...m,
    sets: [...sets.values()].map((s) => ({ ...s, elements: [...s.elements].sort(([a], [b]) => byKey(a, b)).map(([key, value]) => (value === undefined ? { key } : { key, value })) })),
    chains: [...chains.values()],
  };
}

const canon = (m: NftTableModel): string => {
  const byName = <T extends { name: string }>(xs: T[]): T[] => [...xs].sort((a, b) => (a.name < b.name ? -1 : 1));
  return renderFullReplace({ ...m, sets: byName(m.sets), chains: byName(m.chains) });
};

describe('ServicesCompiler', () => {
  test('random changes: incremental output equals a fresh compile, and each delta leads there', () => {
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const services = new Map<string, Service>();
    const slices = new Map<string, EndpointSlice>();
    const c = new ServicesCompiler();
    let prev = c.update({ node, podCidrs, services, slices });
    let model = prev.model;
    for (let step = 0; step < 300; step++) {
      const i = rnd(12);
      const name = `s${i}`;
      const changed = { services: [] as string[], slices: [] as string[] };
      const kind = rnd(6);
      if (kind === 0) {
        services.delete(`default/${name}`);
        changed.services.push(`default/${name}`);
      } else if (kind === 1) {
        const spec = rnd(3) === 0 ? { clusterIP: `10.96.0.${i}`, type: 'NodePort' as const, ports: [{ port: 80, targetPort: 8080, nodePort: 30000 + i }] } : rnd(2) ? { clusterIP: `10.96.0.${i}`, sessionAffinity: 'ClientIP' as const } : { clusterIP: `10.96.0.${i % 7}`, externalTrafficPolicy: 'Local' as const, externalIPs: ['198.51.100.1'] };
        services.set(`default/${name}`, service(name, spec));
        changed.services.push(`default/${name}`);
      } else {
        const eps = Array.from({ length: rnd(4) }, (_, k) => endpoint(`10.244.${rnd(3)}.${k + rnd(3)}`, rnd(2) ? 'n1' : 'n2'));
        const key = `default/${name}-${kind % 2 ? 'a' : 'b'}`;
        if (rnd(5) === 0) slices.delete(key);
        else slices.set(key, slice(name, eps, undefined, kind % 2 ? 'a' : 'b'));
        changed.slices.push(key);
      }
      const next = c.update({ node, podCidrs, services, slices }, changed);
      assert.equal(next.delta?.from, prev.generation, 'the delta starts where the previous output ended');
      const fresh = compileServices({ node, podCidrs, services: [...services.values()], endpointSlices: [...slices.values()] }).model;
      assert.equal(canon(next.model), canon(fresh), `step ${step}: the incremental table differs from a fresh compile`);
      model = applyOps(model, next.delta!.ops);
      assert.equal(canon(model), canon(fresh), `step ${step}: the delta does not lead to the new table`);
      prev = next;
    }
  });

  test('one endpoint change in 2,000 Services recompiles one Service and moves a few elements', () => {
    const services = new Map(Array.from({ length: 2000 }, (_, i) => [`default/s${i}`, service(`s${i}`, { clusterIP: `10.96.${i >> 8}.${i & 255}` })]));
    const slices = new Map(Array.from({ length: 2000 }, (_, i) => [`default/s${i}-a`, slice(`s${i}`, [endpoint(`10.244.${i >> 8}.${i & 255}`, 'n1'), endpoint(`10.244.${100 + (i >> 8)}.${i & 255}`, 'n2')])]));
    const c = new ServicesCompiler();
    c.update({ node, podCidrs, services, slices });
    slices.set('default/s5-a', slice('s5', [endpoint('10.244.0.5', 'n1'), endpoint('10.244.9.9', 'n2')]));
    const d = c.update({ node, podCidrs, services, slices }, { services: [], slices: ['default/s5-a'] }).delta!;
    assert.equal(d.recompiled, 1);
    assert.deepEqual(d.ops.map((o) => o.op), ['deleteElements', 'deleteElements', 'addElements', 'addElements']);
    assert.equal(d.changes, 4, 'endpoints_v4 and hairpin_v4: one element out and one in each');
  });

  test('a local pod added recompiles only Services with endpoints known by address, and locality follows it', () => {
    const noNode = { ...endpoint('10.244.1.7', 'n1'), nodeName: undefined };
    const services = new Map([
      ['default/a', service('a', { clusterIP: '10.96.0.1', internalTrafficPolicy: 'Local' })],
      ['default/b', service('b', { clusterIP: '10.96.0.2', internalTrafficPolicy: 'Local' })],
    ]);
    const slices = new Map([
      ['default/a-a', slice('a', [noNode])],
      ['default/b-a', slice('b', [endpoint('10.244.1.8', 'n1')])],
    ]);
    const c = new ServicesCompiler();
    c.update({ node, podCidrs, services, slices });
    const next = c.update({ node, podCidrs, services, slices, localPodIPs: ['10.244.1.7'] }, { services: [], slices: [] });
    assert.equal(next.delta!.recompiled, 1, 'only a (its endpoint has no nodeName)');
    const fresh = compileServices({ node, podCidrs, localPodIPs: ['10.244.1.7'], services: [...services.values()], endpointSlices: [...slices.values()] }).model;
    assert.equal(canon(next.model), canon(fresh));
    assert.ok(next.model.sets.find((x) => x.name === 'service_ips_v4')!.elements.some((e) => e.key === '10.96.0.1 . tcp . 80' && e.value === 'goto local_v4_1'));
  });
});

describe('ServicesCompiler validation', () => {
  test('objects are checked unless an API server validated them on write (the kubernetes datastore)', () => {
    // Both break a rule the apiserver enforces and Twill checks: a node name with an underscore, a
    // port name with upper case. Harmless to the table, so a validated compile can use them.
    const services = new Map([['default/web', service('web', { clusterIP: '10.96.0.10', ports: [{ name: 'Http', port: 80, protocol: 'TCP', targetPort: 8080 }] })]]);
    const slices = new Map([['default/web-a', slice('web', [endpoint('10.244.1.5', 'bad_node')], [{ name: 'Http', port: 8080, protocol: 'TCP' }])]]);
    const input = { node, podCidrs, services, slices };
    const checked = new ServicesCompiler().update(input);
    assert.deepEqual(
      checked.resolved.skipped.map((x) => x.object),
      ['EndpointSlice default/web-a', 'Service default/web'],
    );
    assert.equal(checked.resolved.portCount, 0);
    const trusted = new ServicesCompiler({ validated: true }).update(input);
    assert.deepEqual(trusted.resolved.skipped, []);
    assert.equal(trusted.resolved.portCount, 1);
    assert.ok(trusted.model.sets.find((x) => x.name === 'service_ips_v4')!.elements.some((e) => e.key === '10.96.0.10 . tcp . 80'));
  });
});

describe('ServicesCompiler memory', () => {
  test('its state after a full compile stays small per Service (10,000 of them stay in memory)', () => {
    const n = 2000;
    const services = new Map(Array.from({ length: n }, (_, i) => [`default/s${i}`, service(`s${i}`, { clusterIP: `10.96.${i >> 8}.${i & 255}` })]));
    const slices = new Map(Array.from({ length: n }, (_, i) => [`default/s${i}-a`, slice(`s${i}`, [0, 1, 2].map((k) => endpoint(`10.${245 + k}.${i >> 8}.${i & 255}`, 'n2')))]));
    const bytes = retainedBy(() => {
      const c = new ServicesCompiler();
      c.update({ node, podCidrs, services, slices });
      return c;
    });
    // 4.9 KB a Service before its strings were built flat and its elements kept once (~2 KB after).
    assert.ok(bytes / n < 3000, `${Math.round(bytes / n)} bytes a Service`);
  });
});

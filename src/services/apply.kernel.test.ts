// The services dataplane against a real kernel: the first apply replaces the table, later ones
// are incremental transactions that leave the kernel exactly where a full replacement would.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runInNetns } from '../dataplane/kernel/exec.js';
import { TestScope } from '../../test/support/scope.js';
import { ServicesDataplane } from './apply.js';
import { ServicesCompiler, compileServices, type CompiledServices } from './compiler.js';
import { endpoint, service, slice, snapshot } from './fixtures.js';
import type { ServicesSnapshot } from './resolve.js';

/** One compiler fed whole snapshots, as the controller feeds it (it finds what changed itself). */
function compilerOf(): (s: ServicesSnapshot) => CompiledServices {
  const c = new ServicesCompiler();
  const key = (o: { metadata: { namespace?: string; name: string } }): string => `${o.metadata.namespace}/${o.metadata.name}`;
  return (s) => c.update({ node: s.node, podCidrs: s.podCidrs, services: new Map(s.services.map((x) => [key(x), x])), slices: new Map(s.endpointSlices.map((x) => [key(x), x])) });
}

/** The table's objects, sorted: the kernel lists them in creation order, which differs by path. */
const list = async (ns: string): Promise<string> => {
  const text = (await runInNetns(ns, 'nft', ['list', 'table', 'inet', 'twill-services'])).stdout.trim();
  const body = text.split('\n').slice(1, -1).join('\n');
  return body.split(/\n\s*\n/).map((b) => b.trim()).sort().join('\n\n');
};

describe('ServicesDataplane', () => {
  const scope = new TestScope();
  let a = '';
  let b = '';
  let dir = '';
  before(async () => {
    a = (await scope.netns('svap')).path;
    b = (await scope.netns('svap')).path;
    dir = await scope.tmpdir('svap-');
  });
  after(() => scope.cleanup());

  const s1 = snapshot(
    [service('web', { clusterIP: '10.96.0.10' }), service('gone', { clusterIP: '10.96.0.11' }), service('np', { clusterIP: '10.96.0.12', type: 'NodePort', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] })],
    [slice('web', [endpoint('10.244.1.2', 'n1'), endpoint('10.244.2.2', 'n2')]), slice('gone', [endpoint('10.244.1.3', 'n1')]), slice('np', [])],
  );
  const s1b = { ...s1, endpointSlices: s1.endpointSlices.map((x) => (x.metadata.name === 'web-a' ? slice('web', [endpoint('10.244.1.2', 'n1'), endpoint('10.244.4.2', 'n4')]) : x)) };
  const s2 = snapshot(
    [
      service('web', { clusterIP: '10.96.0.10' }),
      service('np', { clusterIP: '10.96.0.12', type: 'NodePort', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] }),
      service('sticky', { clusterIP: '10.96.0.13', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } }),
    ],
    [slice('web', [endpoint('10.244.2.2', 'n2'), endpoint('10.244.3.2', 'n3')]), slice('np', [endpoint('10.244.1.9', 'n1')]), slice('sticky', [endpoint('10.244.1.4', 'n1')])],
  );

  for (const textOnly of [false, true]) {
    test(`first apply is full, later ones incremental (${textOnly ? 'nft -f' : 'netlink batch'}), and both paths end in the same kernel table`, async () => {
      const compile = compilerOf();
      const dp = new ServicesDataplane({ runDir: dir, netnsPath: a, textOnly });
      assert.equal((await dp.apply(compile(s1))).mode, 'full');
      const e = await dp.apply(compile(s1b));
      assert.deepEqual([e.mode, e.via], ['incremental', textOnly ? 'nft' : 'netlink'], 'an endpoint change is map elements only: one netlink batch');
      // s2 adds a shared draw chain (ext_v4_1): its draw rule goes in the netlink batch, after
      // `nft -f` made the chain; with netlink batches off the delta becomes a full replacement.
      const r = await dp.apply(compile(s2));
      if (textOnly) assert.deepEqual([r.mode, typeof r.fullBecause], ['full', 'string']);
      else assert.deepEqual([r.mode, r.via], ['incremental', 'nft+netlink']);
      if (!textOnly) assert.ok(r.changes > 3 && r.changes < 40, `changes ${r.changes}`);
      assert.equal((await dp.apply(compile(s2))).mode, 'unchanged');
      const fresh = new ServicesDataplane({ runDir: `${dir}/b`, netnsPath: b });
      await fresh.apply(compileServices(s2));
      assert.match(await list(a), /10\.244\.3\.2 \. 8080/);
      assert.equal(await list(a), await list(b));
      // And back: the incremental path also removes what it added.
      assert.deepEqual(Object.values(await dp.apply(compile(s1))).slice(0, 2), ['incremental', textOnly ? 'nft' : 'netlink']);
      await fresh.apply(compileServices(s1), { full: true });
      assert.equal(await list(a), await list(b));
      dp.close();
    });
  }

  // The update nft 1.0.6 used to refuse ("conflicting protocols specified: ip vs. th"): a rule that
  // draws from the endpoint maps added to a table already in the kernel, for both families and
  // every kind of shared chain (cluster, local, external, external-local).
  test('a new shared draw chain is accepted by an incremental update (IPv4 and IPv6)', async () => {
    const dual = { node: { name: 'n1', addresses: ['192.0.2.11', '2001:db8::11'] }, podCidrs: ['10.244.0.0/16', 'fd00:10:244::/56'] };
    const v6 = { clusterIPs: ['10.96.0.100', 'fd00:10:96::100'], ipFamilies: ['IPv4', 'IPv6'] as ('IPv4' | 'IPv6')[] };
    const first = snapshot([service('one', { clusterIP: '10.96.0.100', ...v6 })], [slice('one', [endpoint('10.244.1.2', 'n1')], undefined, 'v4'), slice('one', [endpoint('fd00:10:244:1::2', 'n1')], undefined, 'v6')], dual);
    const eps4 = [endpoint('10.244.1.5', 'n1'), endpoint('10.244.2.5', 'n2'), endpoint('10.244.3.5', 'n3'), endpoint('10.244.4.5', 'n4'), endpoint('10.244.5.5', 'n5')];
    const eps6 = eps4.map((e, i) => endpoint(`fd00:10:244:${i + 1}::5`, e.nodeName!));
    const lb = { type: 'LoadBalancer' as const, externalTrafficPolicy: 'Local' as const, internalTrafficPolicy: 'Local' as const, healthCheckNodePort: 32099, ports: [{ port: 80, targetPort: 8080, nodePort: 30099 }] };
    const second = snapshot(
      [...first.services, service('five', { clusterIP: '10.96.0.101', clusterIPs: ['10.96.0.101', 'fd00:10:96::101'], ipFamilies: v6.ipFamilies, ...lb }), service('np', { clusterIP: '10.96.0.102', clusterIPs: ['10.96.0.102', 'fd00:10:96::102'], ipFamilies: v6.ipFamilies, type: 'NodePort', ports: [{ port: 80, targetPort: 8080, nodePort: 30098 }] })],
      [...first.endpointSlices, slice('five', eps4, undefined, 'v4'), slice('five', eps6, undefined, 'v6'), slice('np', eps4.slice(0, 4), undefined, 'v4'), slice('np', eps6.slice(0, 4), undefined, 'v6')],
      dual,
    );
    const compile = compilerOf();
    const dp = new ServicesDataplane({ runDir: `${dir}/d`, netnsPath: a });
    await dp.apply(compile(first), { full: true });
    const c = compile(second);
    const added = c.delta!.ops.flatMap((o) => (o.op === 'addRule' ? [o.rule] : []));
    for (const chain of ['svc_v4_5', 'svc_v6_5', 'local_v4_1', 'local_v6_1', 'extlocal_v4_5_1', 'ext_v4_4', 'ext_v6_4']) assert.ok(c.delta!.ops.some((o) => o.op === 'addChain' && o.chain.name === chain), `the delta adds ${chain}`);
    assert.ok(added.some((r) => r.includes('map @endpoints_v6')) && added.some((r) => r.includes('map @local_endpoints_v4')), 'the delta adds draw rules');
    const r = await dp.apply(c);
    assert.deepEqual([r.mode, r.via], ['incremental', 'nft+netlink']);
    const fresh = new ServicesDataplane({ runDir: `${dir}/e`, netnsPath: b });
    await fresh.apply(compileServices(second), { full: true });
    assert.equal(await list(a), await list(b));
    dp.close();
    fresh.close();
  });

  // first-load.ts: into a kernel without the table, the skeleton by `nft -f` and the elements by
  // netlink batches (several transactions at this size); the kernel must hold what one `nft -f`
  // of the whole table gives. A table already there is replaced in one `nft -f`.
  test('the first table into a kernel without one is loaded by netlink batches, and equals one nft -f', async () => {
    const n = 1500;
    const many = snapshot(
      [...s2.services, ...Array.from({ length: n }, (_, i) => service(`m${i}`, { clusterIP: `10.97.${i >> 8}.${i & 255}` }))],
      [...s2.endpointSlices, ...Array.from({ length: n }, (_, i) => slice(`m${i}`, [0, 1, 2].map((k) => endpoint(`10.${245 + k}.${i >> 8}.${i & 255}`, `n${k + 2}`))))],
    );
    for (const ns of [a, b]) await runInNetns(ns, 'nft', ['delete', 'table', 'inet', 'twill-services']).catch(() => undefined);
    const viaNetlink = new ServicesDataplane({ runDir: `${dir}/f`, netnsPath: a });
    const r = await viaNetlink.apply(compileServices(many));
    assert.deepEqual([r.mode, r.via], ['full', 'nft+netlink']);
    const viaNft = new ServicesDataplane({ runDir: `${dir}/g`, netnsPath: b, textOnly: true });
    assert.deepEqual(Object.values(await viaNft.apply(compileServices(many))).slice(0, 2), ['full', 'nft']);
    assert.match(await list(a), /10\.97\.5\.219 \. tcp \. 80 : goto svc_v4_3/);
    assert.equal(await list(a), await list(b));
    // The table is there now: a new dataplane (an agent restarting) replaces it in one transaction.
    const again = new ServicesDataplane({ runDir: `${dir}/h`, netnsPath: a });
    assert.deepEqual(Object.values(await again.apply(compileServices(s2))).slice(0, 2), ['full', 'nft']);
    for (const d of [viaNetlink, viaNft, again]) d.close();
  });

  test('a refused transaction leaves the previous table and the next apply is full', async () => {
    const compile = compilerOf();
    const dp = new ServicesDataplane({ runDir: `${dir}/c`, netnsPath: a });
    await dp.apply(compile(s1), { full: true });
    const before = await list(a);
    const bad = compile(s2);
    bad.delta!.ops.push({ op: 'flushChain', chain: 'nowhere' });
    await assert.rejects(dp.apply(bad), /refused the incremental update/);
    assert.equal(await list(a), before);
    assert.equal((await dp.apply(compile(s2))).mode, 'full');
    dp.close();
  });
});

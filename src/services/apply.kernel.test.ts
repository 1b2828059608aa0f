// The services dataplane against a real kernel: the first apply replaces the table, later ones
// are incremental transactions that leave the kernel exactly where a full replacement would.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runInNetns } from '../dataplane/kernel/exec.js';
import { TestScope } from '../../test/support/scope.js';
import { ServicesDataplane } from './apply.js';
import { compileServices } from './compile.js';
import { endpoint, service, slice, snapshot } from './fixtures.js';

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
  const s2 = snapshot(
    [
      service('web', { clusterIP: '10.96.0.10' }),
      service('np', { clusterIP: '10.96.0.12', type: 'NodePort', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] }),
      service('sticky', { clusterIP: '10.96.0.13', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } }),
    ],
    [slice('web', [endpoint('10.244.2.2', 'n2'), endpoint('10.244.3.2', 'n3')]), slice('np', [endpoint('10.244.1.9', 'n1')]), slice('sticky', [endpoint('10.244.1.4', 'n1')])],
  );

  test('first apply is full, later ones incremental, and both paths end in the same kernel table', async () => {
    const dp = new ServicesDataplane({ runDir: dir, netnsPath: a });
    assert.equal((await dp.apply(compileServices(s1))).mode, 'full');
    const r = await dp.apply(compileServices(s2));
    assert.equal(r.mode, 'incremental');
    assert.ok(r.changes > 3 && r.changes < 40, `changes ${r.changes}`);
    assert.equal((await dp.apply(compileServices(s2))).mode, 'unchanged');
    const fresh = new ServicesDataplane({ runDir: `${dir}/b`, netnsPath: b });
    await fresh.apply(compileServices(s2));
    assert.match(await list(a), /dnat ip to 10\.244\.3\.2:8080/);
    assert.equal(await list(a), await list(b));
    // And back: the incremental path also removes what it added.
    await dp.apply(compileServices(s1));
    await fresh.apply(compileServices(s1), { full: true });
    assert.equal(await list(a), await list(b));
  });

  test('a refused transaction leaves the previous table and the next apply is full', async () => {
    const dp = new ServicesDataplane({ runDir: `${dir}/c`, netnsPath: a });
    await dp.apply(compileServices(s1), { full: true });
    const before = await list(a);
    const bad = compileServices(s2);
    bad.model.chains.push({ name: 'broken', rules: ['goto nowhere'] });
    await assert.rejects(dp.apply(bad), /nft refused the incremental update/);
    assert.equal(await list(a), before);
    assert.equal((await dp.apply(compileServices(s2))).mode, 'full');
  });
});

// The multi-node lab end to end: bring-up, pods across nodes, the reachability matrix, manifests
// with mistakes, nodes joining and leaving, backend switches, and a clean tear-down.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { listNetns } from '../../src/dataplane/kernel/netns.js';
import { getPods } from '../../src/lab/get.js';
import { LabKubelet } from '../../src/lab/kubelet.js';
import { Lab } from '../../src/lab/lab.js';
import { isAlive, readPid, waitFor } from '../../src/lab/processes.js';
import { labDir, nodeDir } from '../../src/lab/state.js';
import { TestScope } from '../support/scope.js';
import { allConnected, applyYaml, peerRoutes, podYaml, quiet, routingState, upLab } from '../support/lab.js';

const NAME = 'tlab';
const scope = new TestScope();
let lab: Lab;

before(async () => {
  lab = await upLab(scope, NAME, { nodes: 3, leaseTtlSeconds: 3, blockGraceSeconds: 4 });
});
after(() => scope.cleanup());

describe('a 3-node VXLAN lab', () => {
  test('lab up again is harmless: same agents, same routes', async () => {
    const pids = await Promise.all(lab.state.nodes.map((n) => readPid(join(nodeDir(NAME, n.name), 'agent.pid'))));
    const routes = await routingState(lab, 'node-1');
    const again = await Lab.up({ ...lab.state, name: NAME, nodes: 3 }, quiet);
    await again.close();
    assert.deepEqual(await Promise.all(lab.state.nodes.map((n) => readPid(join(nodeDir(NAME, n.name), 'agent.pid')))), pids);
    assert.equal(await routingState(lab, 'node-1'), routes);
  });

  test('pods on every node reach each other on every declared TCP and UDP port', async () => {
    let yaml = 'apiVersion: v1\nkind: Namespace\nmetadata: { name: t }\n---\n';
    for (const n of [1, 2, 3]) yaml += podYaml('t', `p${n}`, `node-${n}`, [80]);
    yaml += 'apiVersion: v1\nkind: Pod\nmetadata: { name: u1, namespace: t }\nspec:\n  nodeName: node-2\n  containers: [{ name: c, ports: [{ containerPort: 53, protocol: UDP }, { containerPort: 8080 }] }]\n';
    await applyYaml(scope, lab, yaml);
    const { ok, results, failed } = await allConnected(lab);
    assert.ok(ok, `unreachable: ${JSON.stringify(failed)}`);
    assert.equal(results.length, 4 * 5, '4 pods × (3 × port 80 + 53/udp + 8080)');
    assert.ok(results.some((r) => r.protocol === 'udp' && r.connected));
    const r = results[0]!;
    assert.deepEqual(Object.keys(r).sort(), ['connected', 'from', 'port', 'protocol', 'to']);
  });

  test('lab get pods -o json is a Kubernetes-style list', async () => {
    const list = JSON.parse(await getPods(lab, 'json')) as { items: { metadata: { name: string; namespace: string }; spec: { nodeName: string }; status: { podIP: string } }[] };
    const p1 = list.items.find((p) => p.metadata.name === 'p1');
    assert.equal(p1?.metadata.namespace, 't');
    assert.equal(p1?.spec.nodeName, 'node-1');
    assert.match(p1?.status.podIP ?? '', /^10\.244\./);
  });

  test('a bad manifest is refused with the document and field named; nothing is applied', async () => {
    const before = (await new LabKubelet(lab).records()).length;
    const yaml = podYaml('t', 'good', 'node-1', [80]) + 'apiVersion: v1\nkind: Pod\nmetadata: { name: bad, namespace: t }\nspec:\n  containers: [{ name: c, ports: [{ containerPort: 70000 }] }]\n';
    await assert.rejects(applyYaml(scope, lab, yaml), /document 2 \(Pod t\/bad\): spec\.containers\[0\]\.ports\[0\]\.containerPort: must be an integer 1\.\.65535/);
    await assert.rejects(applyYaml(scope, lab, 'kind: Pod\napiVersion: v1\nmetadata: {name: x, namespace: t}\nspec: [1\n'), /document 1: not valid YAML/);
    await assert.rejects(applyYaml(scope, lab, podYaml('nope', 'x', 'node-1', [80])), /namespace "nope" does not exist/);
    assert.equal((await new LabKubelet(lab).records()).length, before);
  });

  test('a node joins: every peer routes to it, its pods are reachable', async () => {
    const t0 = Date.now();
    const node = await lab.addNode(quiet);
    await lab.waitConverged();
    const ms = Date.now() - t0;
    const st = await lab.agentStatus(node);
    const block = st.cluster!.blocks[0]!;
    for (const n of ['node-1', 'node-2', 'node-3']) assert.ok((await peerRoutes(lab, n)).includes(block), `${n} routes to ${block}`);
    console.log(`# node join: agent start to converged cluster in ${ms} ms`);
    await applyYaml(scope, lab, podYaml('t', 'p4', node, [80]));
    const { ok, failed } = await allConnected(lab);
    assert.ok(ok, `unreachable: ${JSON.stringify(failed)}`);
  });

  test('a node leaves: its routes are withdrawn after the lease, its block is reclaimed after the grace period', async () => {
    const node = 'node-4';
    const block = (await lab.agentStatus(node)).cluster!.blocks[0]!;
    await new LabKubelet(lab).stop('t', 'p4');
    const t0 = Date.now();
    await lab.removeNode(node);
    await waitFor('routes to the dead node withdrawn', async () => !(await peerRoutes(lab, 'node-1')).includes(block), 20_000, 50);
    const withdrawn = Date.now() - t0;
    assert.ok(withdrawn >= 2000, `withdrawn after ${withdrawn} ms: not before the 3 s lease ran out`);
    const store = await lab.store();
    await waitFor('block reclaimed', async () => !(await store.list('IPAMBlock')).items.some((b) => b.spec.cidr === block), 30_000, 200);
    console.log(`# node leave: routes withdrawn after ${withdrawn} ms, block reclaimed after ${Date.now() - t0} ms`);
    await store.delete('Pod', 't/p4');
  });

  test('switching the backend reconverges without restarting pods', async () => {
    const servers = async () => Promise.all((await new LabKubelet(lab).records()).map((r) => readPid(join(labDir(NAME), 'pods', `${r.namespace}_${r.name}`, 'server.pid'))));
    const before = await servers();
    for (const backend of ['host-gw', 'vxlan'] as const) {
      await lab.setBackend(backend, false, quiet);
      await lab.waitConverged();
      const routes = await routingState(lab, 'node-1');
      if (backend === 'host-gw') assert.ok(!routes.includes('twill0'), 'no VXLAN device under host-gw');
      else assert.ok(routes.includes('dev twill0'), 'VXLAN routes are back');
      const { ok, failed } = await allConnected(lab);
      assert.ok(ok, `after switching to ${backend}: ${JSON.stringify(failed)}`);
    }
    assert.deepEqual(await servers(), before, 'pod processes are the same ones');
  });
});

test('lab down leaves nothing behind', async () => {
  const pids = [
    ...(await Promise.all(lab.state.nodes.map((n) => readPid(join(nodeDir(NAME, n.name), 'agent.pid'))))),
    await readPid(join(labDir(NAME), 'etcd', 'etcd.pid')),
  ];
  await lab.close();
  await Lab.down(NAME, quiet);
  assert.deepEqual((await listNetns()).filter((n) => n.startsWith(`twl-${NAME}-`)), []);
  assert.ok(!existsSync(labDir(NAME)));
  for (const pid of pids) assert.ok(pid !== undefined && !isAlive(pid), `process ${pid} is gone`);
});

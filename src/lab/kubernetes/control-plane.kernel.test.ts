// A real kube-apiserver on Debian's etcd: on loopback (as datastore tests use it) and inside a
// namespace with the controllers (as the Kubernetes lab uses it).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { run } from '../../dataplane/kernel/exec.js';
import { TestScope } from '../../../test/support/scope.js';
import { isAlive, readPid } from '../processes.js';
import { external } from './externals.js';
import { inNetns, pidFileOf } from './spawn.js';
import { startControlPlane } from './index.js';

const scope = new TestScope();
after(() => scope.cleanup());

const kubectl = (netns: string | undefined, kubeconfig: string, args: string[]) => {
  const argv = inNetns(netns, [external('kubectl'), `--kubeconfig=${kubeconfig}`, '--request-timeout=30s', ...args]);
  // Generous: on the loaded 2-core host of a CI rehearsal one create (kubectl discovers the API first) took over 20 s.
  return run(argv[0]!, argv.slice(1), { timeoutMs: 60_000 });
};

test('control plane on loopback: /readyz, the pinned version, admin may write, stop() ends every process', async () => {
  const dir = await scope.tmpdir('kl-cp-');
  const cp = await startControlPlane({ dir });
  scope.defer(() => cp.stop());
  assert.match(cp.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const v = JSON.parse((await kubectl(undefined, cp.kubeconfig, ['get', '--raw', '/version'])).stdout) as { gitVersion: string };
  assert.equal(v.gitVersion, 'v1.37.2');
  await kubectl(undefined, cp.kubeconfig, ['create', 'namespace', 'kl-one']);
  // Without controllers a Pod is still accepted (no ServiceAccount admission waiting for `default`).
  await kubectl(undefined, cp.kubeconfig, ['-n', 'kl-one', 'run', 'p', '--image=pause', '--restart=Never']);
  // A node identity is held to its own Node by the Node authorizer.
  const nodeKc = await cp.clientKubeconfig('node-a', 'system:node:a', ['system:nodes']);
  const denied = await kubectl(undefined, nodeKc, ['get', 'secrets', '-A']).then(() => false, () => true);
  assert.ok(denied, 'a node identity must not list secrets');
  const pids = await Promise.all(['etcd', 'kube-apiserver'].map((name) => readPid(pidFileOf({ dir, name }))));
  await cp.stop();
  for (const p of pids) assert.ok(p !== undefined && !isAlive(p), `process ${p} still alive after stop()`);
});

test('control plane in a namespace with controllers: the default ServiceAccount appears, node CIDRs are allocated', async () => {
  const ns = await scope.netns('kl-cpn-');
  await run('ip', ['-n', ns.name, 'addr', 'add', '192.0.2.1/24', 'dev', 'lo']);
  const dir = await scope.tmpdir('kl-cp-');
  const cp = await startControlPlane({ dir, netns: ns.name, bindAddress: '192.0.2.1', withControllers: true, allocateNodeCidrs: { clusterCidr: '10.244.0.0/16', nodeMaskSize: 24 } });
  scope.defer(() => cp.stop());
  assert.equal(cp.url, 'https://192.0.2.1:6443');
  const node = JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'kl-n1' } });
  const file = `${dir}/node.json`;
  await import('node:fs/promises').then((fs) => fs.writeFile(file, node));
  await kubectl(ns.name, cp.kubeconfig, ['create', '-f', file]);
  let cidr = '';
  let sa = false;
  for (let i = 0; i < 120 && !(cidr && sa); i++) {
    cidr = (await kubectl(ns.name, cp.kubeconfig, ['get', 'node', 'kl-n1', '-o', 'jsonpath={.spec.podCIDR}'])).stdout.trim();
    sa = await kubectl(ns.name, cp.kubeconfig, ['get', 'serviceaccount', 'default']).then(() => true, () => false);
    if (!(cidr && sa)) await new Promise((r) => setTimeout(r, 500));
  }
  assert.match(cidr, /^10\.244\.\d+\.0\/24$/);
  assert.ok(sa, 'kube-controller-manager created the default ServiceAccount');
});

// OwnerWatch against a real kube-apiserver (started here, no controllers), with the agent's own
// least-privilege credentials from deploy/'s RBAC: a rolling update (everything stays) keeps the
// datapath; deleting the DaemonSet, or the namespace after the RBAC objects are already gone (the
// order `kubectl delete -f` uses), is seen as an uninstall through the watch opened at start.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { TestScope } from '../../../test/support/scope.js';
import type { ClusterAccess, KubeClient } from '../../datastore/kubernetes/index.js';
import { kubeBinary, startControlPlane, type ControlPlane } from '../../datastore/kubernetes/testing/control-plane.js';
import { renderObjects, type K8sObject } from '../../deploy/manifest.js';
import { DEFAULT_VALUES } from '../../deploy/values.js';
import { rootLogger } from '../../util/log.js';
import { OwnerWatch } from './owner-watch.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root' : !existsSync(kubeBinary('kube-apiserver')) ? `${kubeBinary('kube-apiserver')} is not built (scripts/externals/build.sh kubernetes)` : false;
const NS = 'kd-owner';
const scope = new TestScope();
let cp: ControlPlane;
let admin: KubeClient;
let agentAccess: ClusterAccess;
const objects = renderObjects({ ...DEFAULT_VALUES, namespace: NS }).filter((o) => o.kind !== 'CustomResourceDefinition' && o.kind !== 'ConfigMap');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function collection(o: K8sObject): string {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const plural = { Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Role: 'roles', RoleBinding: 'rolebindings', DaemonSet: 'daemonsets' }[o.kind];
  assert.ok(plural, o.kind);
  return o.metadata.namespace ? `${base}/namespaces/${o.metadata.namespace}/${plural}` : `${base}/${plural}`;
}
const create = (o: K8sObject) => admin.request(collection(o), { method: 'POST', body: o, what: `creating ${o.kind} ${o.metadata.name}` });
const remove = (o: K8sObject) => admin.request(`${collection(o)}/${o.metadata.name}`, { method: 'DELETE', what: `deleting ${o.kind} ${o.metadata.name}` });
const find = (kind: string, name?: string) => objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name))!;

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function watcher(): OwnerWatch {
  const w = new OwnerWatch({ namespace: NS, daemonSet: 'twill' }, agentAccess, rootLogger.child('kd-owner'));
  scope.defer(() => w.stop());
  return w;
}

before(async () => {
  if (skip) return;
  cp = await startControlPlane({ dir: await scope.tmpdir('kd-apiserver-'), disableAdmission: ['ServiceAccount'] });
  scope.defer(() => cp.stop());
  admin = cp.admin();
  scope.defer(() => admin.close());
  for (const o of objects) await create(o);
  const tr = await admin.request<{ status: { token: string } }>(`/api/v1/namespaces/${NS}/serviceaccounts/twill-agent/token`, {
    method: 'POST', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } }, what: 'a token for the agent',
  });
  agentAccess = { server: cp.server, ca: cp.access.ca!, token: tr.status.token, source: 'kd test token' };
});
after(() => scope.cleanup());

test('kd with the agent\'s own RBAC: a restart or rolling update keeps the datapath', { skip }, async () => {
  const w = watcher();
  w.start();
  await until('both watches synced', () => w.observations.daemonSet === 'present' && w.observations.namespace === 'present');
  assert.equal(await w.exitMode(), 'keep');
});

test('kd the DaemonSet deleted: uninstall', { skip }, async () => {
  const w = watcher();
  w.start();
  await until('synced', () => w.observations.daemonSet === 'present');
  await remove(find('DaemonSet'));
  await until('the watch sees the DaemonSet go', () => w.observations.daemonSet === 'gone');
  assert.equal(await w.exitMode(), 'uninstall');
  await create(find('DaemonSet'));
});

test('kd RBAC deleted first, then the namespace: the open watch still tells, and it is an uninstall', { skip }, async () => {
  const w = watcher();
  w.start();
  await until('synced', () => w.observations.daemonSet === 'present' && w.observations.namespace === 'present');
  for (const o of objects.filter((x) => x.kind.endsWith('Binding'))) await remove(o);
  await remove(find('Role', 'twill-agent-owner'));
  await remove(find('Namespace'));
  await until('the namespace watch sees it terminating', () => w.observations.namespace === 'deleting');
  assert.equal(await w.exitMode(), 'uninstall');
});

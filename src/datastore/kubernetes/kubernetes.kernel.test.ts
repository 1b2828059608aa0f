// Runs the shared Store suite against a real kube-apiserver (with Debian's etcd) started once for
// this file, plus what only this store has: CRD validation, projection, errors that say what to
// do, the RBAC rules being enough, and expired leases reaped without a garbage collector.
// Clients reach the apiserver through a loopback relay so an outage is a cut, not a slow restart.
import { after, before } from 'node:test';
import { Etcd3 } from 'etcd3';
import { TestScope } from '../../../test/support/scope.js';
import { runStoreConformance } from '../conformance.js';
import type { KubeClient } from './client.js';
import { revokeLease } from './lease.js';
import { KubernetesStore } from './store.js';
import { startControlPlane, type ControlPlane } from './testing/control-plane.js';
import { TcpProxy } from './testing/tcp-proxy.js';
import { registerSpecifics } from './testing/store-specifics.js';

const scope = new TestScope();
const LEASE_NS = 'ks-leases';
let cp: ControlPlane;
let admin: KubeClient;
let proxy: TcpProxy;
let etcdAdmin: Etcd3;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

before(async () => {
  const dir = await scope.tmpdir('ks-apiserver-');
  // No controllers run here, so pods cannot wait for a ServiceAccount; with the watch cache off a
  // compacted etcd revision is what a watch from it meets (410 Gone).
  cp = await startControlPlane({ dir, watchCache: false, disableAdmission: ['ServiceAccount'] });
  scope.defer(() => cp.stop());
  admin = cp.admin();
  scope.defer(() => admin.close());
  // The namespaces the suites put pods in (no namespace controller runs: they are never deleted).
  for (const name of [LEASE_NS, 'a', 'ab', 'b', 'ns', 'x', 'ks-proj', 'ks-rbac']) {
    await admin.request('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, what: `creating namespace ${name}` });
  }
  proxy = new TcpProxy(Number(new URL(cp.server).port));
  await proxy.start();
  scope.defer(() => proxy.stop());
  etcdAdmin = new Etcd3({ hosts: cp.etcdUrl });
  scope.defer(() => etcdAdmin.close());
});

after(() => scope.cleanup());

/** Empties what the suite writes: Twill's kinds, pods, leases, Services and slices. */
async function wipe(): Promise<void> {
  for (const p of ['/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices', '/apis/twill.dev/v1alpha1/twillnodes', '/apis/twill.dev/v1alpha1/ipamblocks', '/apis/twill.dev/v1alpha1/clusterconfigs', `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases`]) {
    await admin.request(p, { method: 'DELETE', what: `wiping ${p}` });
  }
  const svcs = await admin.request<{ items: { metadata: { name: string } }[] }>('/api/v1/namespaces/ns/services', { what: 'listing services' });
  for (const o of svcs.items) await admin.request(`/api/v1/namespaces/ns/services/${o.metadata.name}`, { method: 'DELETE', what: 'wiping a service' }).catch(() => undefined);
  const pods = await admin.request<{ items: { metadata: { namespace: string; name: string } }[] }>('/api/v1/pods', { what: 'listing pods' });
  for (const p of pods.items) {
    await admin.request(`/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}?gracePeriodSeconds=0`, { method: 'DELETE', what: 'wiping a pod' }).catch(() => undefined);
  }
}

function connect(): KubernetesStore {
  return new KubernetesStore({ access: { ...cp.access, server: `https://127.0.0.1:${proxy.port}` }, leaseNamespace: LEASE_NS });
}

runStoreConformance(
  'kubernetes',
  async () => {
    await wipe();
    return {
      ttlSeconds: 2,
      atomicLeaseExpiry: false,
      connect: async () => connect(),
      elapse: sleep,
      compact: async () => {
        const { header } = await etcdAdmin.kv.range({ key: Buffer.from('/registry/'), count_only: true });
        await etcdAdmin.kv.compact({ revision: header.revision, physical: true });
      },
      outage: (ms) => proxy.outage(ms),
      revokeElsewhere: async (id) => {
        await revokeLease(admin, LEASE_NS, id);
      },
      close: async () => undefined,
    };
  },
  { timeoutMs: 40_000 },
);

registerSpecifics(() => ({ cp, admin, connect, leaseNamespace: LEASE_NS, wipe }));

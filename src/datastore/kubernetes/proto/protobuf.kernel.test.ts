// The store's Service and EndpointSlice lists through a real kube-apiserver in protobuf: paged, from
// etcd and from the watch cache, they equal what the JSON path decodes from the same objects, and
// the pages really came in protobuf. A server that cannot answer protobuf (custom resources) is
// read as JSON from the same request.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestScope } from '../../../../test/support/scope.js';
import type { KubeClient } from '../client.js';
import { collectionPath, decodeObject } from '../resources.js';
import { KubernetesStore } from '../store.js';
import { startControlPlane, type ControlPlane } from '../testing/control-plane.js';
import { fixtureObjects } from './testdata/objects.js';

type Obj = Record<string, unknown>;
const scope = new TestScope();
const NS = 'pk';
/** Services besides the fixtures: enough for several pages. */
const EXTRA = 60;
let cp: ControlPlane;
let admin: KubeClient;

before(async () => {
  const dir = await scope.tmpdir('proto-apiserver-');
  cp = await startControlPlane({ dir, disableAdmission: ['ServiceAccount'], extraArgs: ['--service-cluster-ip-range=10.96.0.0/16,fd00:96::/112'] });
  scope.defer(() => cp.stop());
  admin = cp.admin();
  scope.defer(() => admin.close());
  await admin.request('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }, what: 'creating the namespace' });
  const { services, statuses, slices } = fixtureObjects(NS);
  for (let i = 0; i < EXTRA; i++) {
    services.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `s${i}`, namespace: NS, labels: { app: `a${i % 3}` } }, spec: { selector: { app: `a${i % 3}` }, ports: [{ name: 'http', port: 80, targetPort: 8000 + (i % 4) }] } });
    slices.push({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `s${i}-x`, namespace: NS, labels: { 'kubernetes.io/service-name': `s${i}` } }, addressType: 'IPv4', endpoints: [{ addresses: [`10.1.${i}.1`], conditions: { ready: i % 2 === 0 }, nodeName: `n${i % 5}` }], ports: [{ name: 'http', port: 8000, protocol: 'TCP' }] });
  }
  for (const s of services) await admin.request(collectionPath('Service', NS), { method: 'POST', body: s, what: `creating service ${s.metadata.name}` });
  for (const st of statuses) {
    const cur = await admin.request<Obj>(`${collectionPath('Service', NS)}/${st.name}`, { what: 'reading' });
    await admin.request(`${collectionPath('Service', NS)}/${st.name}/status`, { method: 'PUT', body: { ...cur, status: st.status }, what: `status of ${st.name}` });
  }
  for (const e of slices) await admin.request(collectionPath('EndpointSlice', NS), { method: 'POST', body: e, what: `creating slice ${e.metadata.name}` });
});

after(() => scope.cleanup());

/** The JSON path: one unpaged list, each item through decodeObject. */
async function viaJson(kind: 'Service' | 'EndpointSlice'): Promise<Obj[]> {
  const items: Obj[] = [];
  await admin.requestList<Obj>(collectionPath(kind), { what: 'listing as JSON' }, (o) => items.push(decodeObject(kind, o) as unknown as Obj));
  return items;
}

describe('protobuf lists through the kubernetes store', () => {
  for (const kind of ['Service', 'EndpointSlice'] as const) {
    for (const fromCache of [false, true]) {
      it(`${kind}: paged protobuf equals the JSON path (${fromCache ? 'watch cache' : 'etcd'})`, async () => {
        const store = new KubernetesStore({ access: cp.access, pageSize: 7 });
        try {
          const { items, revision } = await store.list(kind, { fromCache });
          const json = await viaJson(kind);
          // The apiserver's own Service (default/kubernetes) is not there: no endpoint reconciler.
          assert.ok(json.length >= EXTRA + 5);
          assert.deepStrictEqual(items, json);
          assert.match(revision, /^\d+$/);
          // The watch cache answers resourceVersion=0 in one page whatever the limit.
          const pages = fromCache ? 1 : Math.ceil(json.length / 7);
          assert.ok(store.client.traffic.protobufPages >= pages, `${store.client.traffic.protobufPages} protobuf pages of ${pages}`);
          assert.equal(store.client.traffic.requests, store.client.traffic.protobufPages);
        } finally {
          await store.close();
        }
      });
    }
  }

  it('reads JSON when the server cannot answer protobuf (a custom resource)', async () => {
    const store = new KubernetesStore({ access: cp.access });
    try {
      let asked = 0;
      const page = await store.client.requestList('/apis/twill.dev/v1alpha1/twillnodes', { what: 'listing twillnodes' }, () => undefined, () => {
        asked++;
        return {};
      });
      assert.equal(asked, 0);
      assert.match(page.metadata?.resourceVersion ?? '', /^\d+$/);
      assert.equal(store.client.traffic.protobufPages, 0);
    } finally {
      await store.close();
    }
  });

  it('reports an apiserver error answered in protobuf with its message', async () => {
    const store = new KubernetesStore({ access: cp.access });
    try {
      await assert.rejects(
        store.client.requestList('/api/v1/services?limit=2&continue=bm90LWEtdG9rZW4', { what: 'listing services' }, () => undefined, () => ({})),
        (e: Error & { httpStatus?: number }) => e.httpStatus === 400 && /continue/i.test(e.message) && !/k8s\0/.test(e.message),
      );
    } finally {
      await store.close();
    }
  });
});

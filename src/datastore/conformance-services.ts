// The Service and EndpointSlice cases of the shared Store suite (see conformance.ts): the fields
// the services compiler reads (src/services/resolve.ts) survive every store, a projecting one
// included, and a watch sees Services and slices come and go like any other kind.
import assert from 'node:assert/strict';
import { SERVICE_NAME_LABEL, type EndpointSlice, type Service } from '../model/types.js';
import { Recorder, type Case } from './conformance-support.js';

export function service(namespace: string, name: string): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace, name, labels: { app: name } },
    spec: {
      type: 'NodePort',
      clusterIP: '10.96.7.7',
      selector: { app: name },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'web', nodePort: 30777 }],
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
      externalTrafficPolicy: 'Local',
      internalTrafficPolicy: 'Cluster',
    },
  };
}

export function slice(namespace: string, name: string, svc: string): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace, name, labels: { [SERVICE_NAME_LABEL]: svc } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', targetRef: { kind: 'Pod', namespace, name: 'web-1' } },
      { addresses: ['10.244.2.5'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'n2', targetRef: { kind: 'Pod', namespace, name: 'web-2' } },
    ],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

export const SERVICE_CASES: Record<string, Case> = {
  'Services and EndpointSlices keep what the services compiler reads; watches see them come and go': async (_b, connect) => {
    const s = await connect();
    const start = (await s.list('Service')).revision;
    const svcs = new Recorder(s, 'Service', start);
    const slices = new Recorder(s, 'EndpointSlice', (await s.list('EndpointSlice')).revision);
    const want = service('ns', 'web');
    await s.create(want);
    await s.create(slice('ns', 'web-abcde', 'web'));
    const got = await s.get('Service', 'ns/web');
    assert.ok(got);
    // An API server adds defaults (clusterIPs, ipFamilies…); every field given comes back as given.
    for (const [k, v] of Object.entries(want.spec)) assert.deepEqual(got.spec[k as keyof Service['spec']], v, `spec.${k}`);
    assert.equal(got.metadata.labels?.['app'], 'web');
    const gotSlice = (await s.list('EndpointSlice', { namespace: 'ns' })).items.find((o) => o.metadata.name === 'web-abcde');
    assert.ok(gotSlice);
    assert.deepEqual({ addressType: gotSlice.addressType, endpoints: gotSlice.endpoints, ports: gotSlice.ports }, { addressType: 'IPv4', endpoints: slice('ns', 'x', 'web').endpoints, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] });
    assert.equal(gotSlice.metadata.labels?.[SERVICE_NAME_LABEL], 'web');
    assert.deepEqual(await svcs.waitFor(1), ['ADDED web']);
    assert.deepEqual(await slices.waitFor(1), ['ADDED web-abcde']);
    const added = svcs.events[0]!;
    assert.ok(added.type === 'ADDED' && added.object.spec.ports?.[0]?.targetPort === 'web', 'the watched object is decoded like a read one');
    assert.equal(await s.delete('EndpointSlice', 'ns/web-abcde'), true);
    assert.equal(await s.delete('Service', 'ns/web'), true);
    assert.deepEqual(await slices.waitFor(2), ['ADDED web-abcde', 'DELETED web-abcde']);
    assert.deepEqual(await svcs.waitFor(2), ['ADDED web', 'DELETED web']);
    svcs.stop();
    slices.stop();
  },

  'a list from the cache (an informer\'s first list) is one revision a watch goes on from': async (_b, connect) => {
    const s = await connect();
    await s.create(service('ns', 'a'));
    // The cache may lag a write of a moment ago, never by more than its watch does.
    let listed = await s.list('Service', { fromCache: true });
    for (const end = Date.now() + 10_000; !listed.items.some((o) => o.metadata.name === 'a'); listed = await s.list('Service', { fromCache: true })) {
      assert.ok(Date.now() < end, `service a not in a cached list after 10 s (last at revision ${listed.revision})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const w = new Recorder(s, 'Service', listed.revision);
    // A ClusterIP and a node port of its own (an apiserver allocates each once).
    const b = service('ns', 'b');
    await s.create({ ...b, spec: { ...b.spec, clusterIP: '10.96.7.8', ports: [{ ...b.spec.ports![0]!, nodePort: 30778 }] } });
    assert.deepEqual(await w.waitFor(1), ['ADDED b'], 'the watch from the cached list\'s revision sees the next write, and only it');
    w.stop();
    await s.delete('Service', 'ns/a');
    await s.delete('Service', 'ns/b');
  },
};

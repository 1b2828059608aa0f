// The labels that take a Service away from Twill (kube-proxy's rule): another proxy's name, or
// service.kubernetes.io/headless (the upstream e2e test "should implement service.kubernetes.io/headless").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpoint, service, slice, snapshot } from './fixtures.js';
import { resolveServices } from './resolve.js';

test('Services labelled headless or for another proxy are not proxied', () => {
  const labelled = (name: string, ip: string, labels: Record<string, string>) => service(name, { clusterIP: ip }, { metadata: { namespace: 'default', name, labels } });
  const r = resolveServices(snapshot(
    [labelled('quiet', '10.96.0.91', { 'service.kubernetes.io/headless': '' }), labelled('theirs', '10.96.0.92', { 'service.kubernetes.io/service-proxy-name': 'foo' }), service('ours', { clusterIP: '10.96.0.93' })],
    ['quiet', 'theirs', 'ours'].map((n) => slice(n, [endpoint('10.244.1.4', 'n1')])),
  ));
  assert.deepEqual(r.ports.map((p) => p.name), ['ours']);
  // A slice labelled headless is ignored: its Service has no endpoints (and rejects).
  const quietSlice = slice('ours', [endpoint('10.244.1.4', 'n1')]);
  quietSlice.metadata.labels = { ...quietSlice.metadata.labels, 'service.kubernetes.io/headless': '' };
  const r2 = resolveServices(snapshot([service('ours', { clusterIP: '10.96.0.93' })], [quietSlice]));
  assert.deepEqual(r2.ports.map((p) => p.endpoints.length), [0]);
});

test('the healthCheckNodePort counts ready local endpoints only: terminating ones drain the node (503)', () => {
  const lb = service('web', { clusterIP: '10.96.0.94', type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ port: 80, targetPort: 8080, nodePort: 30094 }] });
  const terminating = { ready: false, serving: true, terminating: true };
  const r = resolveServices(snapshot([lb], [slice('web', [endpoint('10.244.1.4', 'n1', terminating)])]));
  assert.deepEqual(r.healthChecks.map((h) => h.localEndpoints), [0]);
  assert.equal(r.ports[0]!.localEndpoints.length, 1, 'the terminating endpoint still serves (fallback)');
  const ready = resolveServices(snapshot([lb], [slice('web', [endpoint('10.244.1.4', 'n1'), endpoint('10.244.1.5', 'n1', terminating)])]));
  assert.deepEqual(ready.healthChecks.map((h) => h.localEndpoints), [1]);
});

test('an address listed twice, in one slice or across two, is one endpoint', () => {
  const svc = service('web', { clusterIP: '10.96.0.95' });
  const one = resolveServices(snapshot([svc], [slice('web', [endpoint('10.244.1.4', 'n1'), endpoint('10.244.1.4', 'n1'), endpoint('10.244.1.5', 'n1')])]));
  assert.deepEqual(one.ports[0]!.endpoints.map((e) => e.ip), ['10.244.1.4', '10.244.1.5']);
  const two = resolveServices(snapshot([svc], [slice('web', [endpoint('10.244.1.4', 'n1')]), slice('web', [endpoint('10.244.1.4', 'n1')], undefined, 'b')]));
  assert.deepEqual(two.ports[0]!.endpoints.map((e) => e.ip), ['10.244.1.4']);
});

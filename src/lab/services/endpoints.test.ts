import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Pod, Service } from '../../model/types.js';
import { MANAGED_BY, MANAGED_BY_LABEL, allocate, desiredSlices, planSlices } from './endpoints.js';
import { keepAllocations } from './controller.js';

const pod = (name: string, ip: string | undefined, labels: Record<string, string>, ports: { name?: string; containerPort: number }[] = [], phase: 'Running' | 'Pending' = 'Running', node = 'node-1'): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace: 'a', name, labels },
  spec: { nodeName: node, containers: [{ name: 'c', ports }] },
  status: { phase, ...(ip ? { podIP: ip } : {}) },
});
const svc = (name: string, spec: Partial<Service['spec']>): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'a', name }, spec: { ports: [{ port: 80 }], ...spec } });

describe('lab service controller', () => {
  test('allocates the lowest free ClusterIP, NodePorts and a healthCheckNodePort; leaves set ones alone', () => {
    const out = allocate([
      svc('x', { clusterIP: '10.96.0.10' }),
      svc('y', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ name: 'h', port: 80 }, { name: 'g', port: 81, nodePort: 30000 }] }),
      svc('z', { clusterIP: '10.96.0.99' }),
    ]);
    assert.deepEqual(out.map((s) => [s.metadata.name, s.spec.clusterIP, s.spec.ports!.map((p) => p.nodePort), s.spec.healthCheckNodePort]), [['y', '10.96.0.11', [30001, 30000], 30002]]);
  });

  test('slices from the selector: Running pods ready, Pending not ready, no-IP pods left out; named targetPorts split slices', () => {
    const s = svc('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'web' }] });
    const pods = [
      pod('w1', '10.244.0.2', { app: 'web' }, [{ name: 'web', containerPort: 8080 }]),
      pod('w2', '10.244.0.3', { app: 'web' }, [{ name: 'web', containerPort: 8081 }], 'Pending'),
      pod('w3', undefined, { app: 'web' }, [{ name: 'web', containerPort: 8080 }], 'Pending'),
      pod('other', '10.244.0.4', { app: 'db' }, [{ name: 'web', containerPort: 8080 }]),
    ];
    const slices = desiredSlices(s, pods);
    assert.equal(slices.length, 2);
    const byPort = new Map(slices.map((x) => [x.ports![0]!.port, x]));
    assert.deepEqual(byPort.get(8080)!.endpoints.map((e) => [e.addresses[0], e.conditions?.ready]), [['10.244.0.2', true]]);
    assert.deepEqual(byPort.get(8081)!.endpoints.map((e) => [e.addresses[0], e.conditions?.ready]), [['10.244.0.3', false]]);
    assert.equal(byPort.get(8080)!.ports![0]!.name, 'http', 'slice ports carry the Service port name');
    assert.equal(byPort.get(8080)!.metadata.labels!['kubernetes.io/service-name'], 'web');
    assert.deepEqual(desiredSlices(svc('manual', {}), pods), [], 'no selector: hand-written slices');
  });

  test('planSlices writes what changed and deletes only managed slices that are no longer wanted', () => {
    const s = svc('web', { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
    const pods = [pod('w1', '10.244.0.2', { app: 'web' })];
    const first = planSlices([s], pods, []);
    assert.equal(first.put.length, 1);
    assert.deepEqual(planSlices([s], pods, first.put), { put: [], remove: [] });
    const manual = { ...first.put[0]!, metadata: { ...first.put[0]!.metadata, name: 'hand', labels: { 'kubernetes.io/service-name': 'web' } } };
    const gone = planSlices([], pods, [...first.put, manual]);
    assert.deepEqual(gone.remove.map((x) => x.metadata.name), [first.put[0]!.metadata.name]);
    assert.equal(first.put[0]!.metadata.labels![MANAGED_BY_LABEL], MANAGED_BY);
  });

  test('a re-applied Service keeps its allocations', () => {
    const prev = svc('y', { type: 'NodePort', clusterIP: '10.96.0.12', clusterIPs: ['10.96.0.12'], ports: [{ port: 80, nodePort: 30005 }] });
    const next = keepAllocations(svc('y', { type: 'NodePort', ports: [{ port: 80 }] }), prev);
    assert.equal(next.spec.clusterIP, '10.96.0.12');
    assert.equal(next.spec.ports![0]!.nodePort, 30005);
  });
});

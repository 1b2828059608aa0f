import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EndpointSlice, Service } from './types.js';
import { validateEndpointSlice, validateService } from './validate-service.js';

const svc = (spec: Partial<Service['spec']>, extra: Partial<Service> = {}): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'default', name: 'web' },
  spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }], ...spec },
  ...extra,
});

const slice = (o: Partial<EndpointSlice>): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: 'default', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['10.244.1.2'], conditions: { ready: true } }],
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  ...o,
});

const fields = (errs: { field: string }[]): string[] => errs.map((e) => e.field);

describe('validateService', () => {
  test('a full NodePort/LoadBalancer Service is valid', () => {
    const s = svc(
      {
        type: 'LoadBalancer',
        clusterIPs: ['10.96.0.10'],
        ports: [
          { name: 'http', port: 80, targetPort: 'http', nodePort: 30080 },
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 },
        ],
        externalIPs: ['198.51.100.7'],
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 3 } },
        externalTrafficPolicy: 'Local',
        internalTrafficPolicy: 'Cluster',
        healthCheckNodePort: 32000,
      },
      { status: { loadBalancer: { ingress: [{ ip: '203.0.113.9' }] } } },
    );
    assert.deepEqual(validateService(s), []);
  });

  test('each rule names its field', () => {
    const cases: [Partial<Service['spec']>, string][] = [
      [{ clusterIP: '10.96.0' }, 'spec.clusterIP'],
      [{ ports: [] }, 'spec.ports'],
      [{ ports: [{ port: 80 }, { port: 81, name: 'b' }] }, 'spec.ports[0].name'],
      [{ ports: [{ port: 0 }] }, 'spec.ports[0].port'],
      [{ ports: [{ port: 80, protocol: 'ICMP' as never }] }, 'spec.ports[0].protocol'],
      [{ ports: [{ port: 80, targetPort: 'Not_A_Name' }] }, 'spec.ports[0].targetPort'],
      [{ ports: [{ port: 80, nodePort: 30000 }] }, 'spec.ports[0].nodePort'],
      [{ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }, 'spec.ports[1].port'],
      [{ externalIPs: ['nope'] }, 'spec.externalIPs[0]'],
      [{ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } }, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds'],
      [{ externalTrafficPolicy: 'Nearest' as never }, 'spec.externalTrafficPolicy'],
      [{ healthCheckNodePort: 32000 }, 'spec.healthCheckNodePort'],
      [{ clusterIPs: ['10.96.0.1', '10.96.0.2'] }, 'spec.clusterIPs'],
    ];
    for (const [spec, field] of cases) assert.ok(fields(validateService(svc(spec))).includes(field), `${JSON.stringify(spec)} → ${field}: ${JSON.stringify(validateService(svc(spec)))}`);
  });

  test('a headless Service needs no ports', () => {
    assert.deepEqual(validateService(svc({ clusterIP: 'None', ports: [] })), []);
  });
});

describe('validateEndpointSlice', () => {
  test('a valid slice', () => assert.deepEqual(validateEndpointSlice(slice({})), []));
  test('each rule names its field', () => {
    const cases: [Partial<EndpointSlice>, string][] = [
      [{ addressType: 'IPv5' as never }, 'addressType'],
      [{ endpoints: [{ addresses: ['fd00::1'] }] }, 'endpoints[0].addresses[0]'],
      [{ endpoints: [{ addresses: [] }] }, 'endpoints[0].addresses'],
      [{ endpoints: [{ addresses: ['10.244.1.2'], conditions: { ready: 'yes' as never } }] }, 'endpoints[0].conditions.ready'],
      [{ ports: [{ port: 70000 }] }, 'ports[0].port'],
      [{ endpoints: undefined as never }, 'endpoints'],
    ];
    for (const [o, field] of cases) assert.ok(fields(validateEndpointSlice(slice(o))).includes(field), `${JSON.stringify(o)} → ${field}`);
  });
});

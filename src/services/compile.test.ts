// Golden tests of the twill-services table, one case per feature (UPDATE_GOLDEN=1 rewrites
// testdata/; compile.kernel.test.ts loads every golden file into a kernel with `nft -c`).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { assertGolden } from '../../test/support/golden.js';
import { renderFullReplace } from '../policy/render.js';
import { compileServices } from './compiler.js';
import { endpoint, service, slice, snapshot } from './fixtures.js';
import type { ServicesSnapshot } from './resolve.js';

const TESTDATA = join(import.meta.dirname, 'testdata');
const terminating = { ready: false, serving: true, terminating: true };

export const GOLDEN_CASES: Record<string, ServicesSnapshot> = {
  'clusterip-spread': snapshot([service('web', { clusterIP: '10.96.0.10' })], [slice('web', [endpoint('10.244.1.2', 'n1'), endpoint('10.244.2.2', 'n2'), endpoint('10.244.3.2', 'n3')])]),
  'clusterip-one-endpoint': snapshot([service('web', { clusterIP: '10.96.0.10' })], [slice('web', [endpoint('10.244.1.2', 'n1')])]),
  'multi-port-named-target': snapshot(
    [
      service('app', {
        clusterIP: '10.96.0.20',
        ports: [
          { name: 'http', port: 80, targetPort: 'web' },
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 },
          { name: 'sig', port: 9, protocol: 'SCTP', targetPort: 9999 },
        ],
      }),
    ],
    [
      // Two pod versions name the "web" container port differently: the slice controller put them in two slices.
      slice('app', [endpoint('10.244.1.5', 'n1')], [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'sig', port: 9999, protocol: 'SCTP' }], 'v1'),
      slice('app', [endpoint('10.244.2.5', 'n2')], [{ name: 'http', port: 8081, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }], 'v2'),
    ],
  ),
  'nodeport-externalip-loadbalancer': snapshot(
    [service('edge', { clusterIP: '10.96.0.30', type: 'LoadBalancer', externalIPs: ['198.51.100.7'], ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] }, { status: { loadBalancer: { ingress: [{ ip: '203.0.113.9' }, { hostname: 'lb.example' }] } } })],
    [slice('edge', [endpoint('10.244.1.2', 'n1'), endpoint('10.244.2.2', 'n2')])],
  ),
  'no-endpoints': snapshot(
    [service('empty', { clusterIP: '10.96.0.40', type: 'NodePort', externalIPs: ['198.51.100.8'], ports: [{ name: 'h', port: 80, nodePort: 30040 }, { name: 'u', port: 53, protocol: 'UDP', nodePort: 30053 }] })],
    [slice('empty', [endpoint('10.244.1.9', 'n1', { ready: false, serving: false, terminating: true })])],
  ),
  conditions: snapshot(
    [service('mixed', { clusterIP: '10.96.0.50' }), service('rolling', { clusterIP: '10.96.0.51' })],
    [
      slice('mixed', [endpoint('10.244.1.2', 'n1'), endpoint('10.244.1.3', 'n1', terminating), endpoint('10.244.1.4', 'n1', { ready: false, serving: false, terminating: false })]),
      slice('rolling', [endpoint('10.244.1.6', 'n1', terminating), endpoint('10.244.1.7', 'n1', { ready: false, serving: false, terminating: true })]),
    ],
  ),
  'session-affinity': snapshot(
    [service('sticky', { clusterIP: '10.96.0.60', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 3 } } }), service('sticky-default', { clusterIP: '10.96.0.61', sessionAffinity: 'ClientIP' })],
    [slice('sticky', [endpoint('10.244.1.2', 'n1'), endpoint('10.244.2.2', 'n2')]), slice('sticky-default', [endpoint('10.244.1.3', 'n1')])],
  ),
  'external-traffic-local': snapshot(
    [
      service('here', { clusterIP: '10.96.0.70', type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32070, ports: [{ port: 80, targetPort: 8080, nodePort: 30070 }] }, { status: { loadBalancer: { ingress: [{ ip: '203.0.113.70' }] } } }),
      service('elsewhere', { clusterIP: '10.96.0.71', type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080, nodePort: 30071 }] }),
    ],
    [slice('here', [endpoint('10.244.1.2', 'n1'), endpoint('10.244.2.2', 'n2')]), slice('elsewhere', [endpoint('10.244.2.3', 'n2')])],
  ),
  'internal-traffic-local': snapshot(
    [service('here', { clusterIP: '10.96.0.80', internalTrafficPolicy: 'Local' }), service('elsewhere', { clusterIP: '10.96.0.81', internalTrafficPolicy: 'Local' })],
    [slice('here', [endpoint('10.244.1.2', 'n1'), endpoint('10.244.2.2', 'n2')]), slice('elsewhere', [endpoint('10.244.2.3', 'n2')])],
  ),
  'other-proxy-and-unproxied': snapshot(
    [
      service('theirs', { clusterIP: '10.96.0.90' }, { metadata: { namespace: 'default', name: 'theirs', labels: { 'service.kubernetes.io/service-proxy-name': 'kube-proxy' } } }),
      service('headless', { clusterIP: 'None' }),
      service('alias', { type: 'ExternalName', externalName: 'db.example', ports: [] }),
      service('ours', { clusterIP: '10.96.0.91' }),
    ],
    [slice('theirs', [endpoint('10.244.1.2', 'n1')]), slice('headless', [endpoint('10.244.1.3', 'n1')]), slice('ours', [endpoint('10.244.1.4', 'n1')])],
  ),
  'dual-stack': snapshot(
    [service('web', { clusterIP: '10.96.0.100', clusterIPs: ['10.96.0.100', 'fd00:10:96::100'], ipFamilies: ['IPv4', 'IPv6'], type: 'NodePort', ports: [{ port: 80, targetPort: 8080, nodePort: 30100 }] })],
    [slice('web', [endpoint('10.244.1.2', 'n1')], undefined, 'v4'), slice('web', [endpoint('fd00:10:244:1::2', 'n1')], undefined, 'v6')],
    { node: { name: 'n1', addresses: ['192.0.2.11', '2001:db8::11'] }, podCidrs: ['10.244.0.0/16', 'fd00:10:244::/56'] },
  ),
  empty: snapshot([], []),
};

describe('compileServices', () => {
  for (const [name, snap] of Object.entries(GOLDEN_CASES)) {
    test(`golden: ${name}`, () => assertGolden(join(TESTDATA, `${name}.nft`), renderFullReplace(compileServices(snap).model)));
  }

  test('compiling is deterministic and independent of input order', () => {
    const s = GOLDEN_CASES['multi-port-named-target']!;
    const a = renderFullReplace(compileServices(s).model);
    const b = renderFullReplace(compileServices({ ...s, services: [...s.services].reverse(), endpointSlices: [...s.endpointSlices].reverse() }).model);
    assert.equal(a, b);
  });

  test('named targetPorts resolve per slice', () => {
    const plans = compileServices(GOLDEN_CASES['multi-port-named-target']!).resolved.ports;
    const http = plans.find((p) => p.id === 'default/app/tcp/http')!;
    assert.deepEqual(http.endpoints.map((e) => `${e.ip}:${e.port}`), ['10.244.1.5:8080', '10.244.2.5:8081']);
    const sctp = plans.find((p) => p.protocol === 'sctp')!;
    assert.deepEqual(sctp.endpoints.map((e) => e.ip), ['10.244.1.5'], 'the v2 slice has no sig port');
  });

  test('conditions: ready first, serving-terminating only when none is ready', () => {
    const plans = compileServices(GOLDEN_CASES['conditions']!).resolved.ports;
    assert.deepEqual(plans.find((p) => p.name === 'mixed')!.endpoints.map((e) => e.ip), ['10.244.1.2']);
    assert.deepEqual(plans.find((p) => p.name === 'rolling')!.endpoints.map((e) => e.ip), ['10.244.1.6']);
  });

  test('health checks for externalTrafficPolicy Local count local endpoints', () => {
    assert.deepEqual(compileServices(GOLDEN_CASES['external-traffic-local']!).resolved.healthChecks, [{ namespace: 'default', name: 'here', port: 32070, localEndpoints: 1 }]);
  });

  test('an invalid Service or slice is skipped with its reason; the rest is compiled', () => {
    const s = snapshot(
      [service('bad', { clusterIP: '10.96.0.1', ports: [{ port: 0 }] }), service('good', { clusterIP: '10.96.0.2' })],
      [{ ...slice('good', [endpoint('10.244.1.2', 'n1')]), addressType: 'IPv5' as never }, slice('good', [endpoint('10.244.1.3', 'n1')], undefined, 'b')],
    );
    const r = compileServices(s).resolved;
    assert.deepEqual(r.skipped.map((x) => x.object), ['Service default/bad', 'EndpointSlice default/good-a'], 'in the order of the Services they belong to');
    assert.match(r.skipped[0]!.reason, /spec\.ports\[0\]\.port/);
    assert.deepEqual(r.ports.map((p) => [p.name, p.endpoints.map((e) => e.ip)]), [['good', ['10.244.1.3']]]);
  });

  test('per-packet work does not grow with the number of Services', () => {
    const many = (n: number): ServicesSnapshot => {
      const svcs = Array.from({ length: n }, (_, i) => service(`s${i}`, { clusterIP: `10.96.${i >> 8}.${i & 255}` }));
      return snapshot(svcs, svcs.map((s, i) => slice(s.metadata.name, [endpoint(`10.244.${i >> 8}.${i & 255}`, 'n1')])));
    };
    const rules = (n: number): number => compileServices(many(n)).model.chains.reduce((a, c) => a + c.rules.length, 0);
    assert.equal(rules(1000), rules(10), 'Services without affinity add map elements only, never chains or rules');
    const sets = compileServices(many(1000)).model.sets;
    assert.equal(sets.find((s) => s.name === 'service_ips_v4')!.elements.length, 1000);
    assert.equal(sets.find((s) => s.name === 'endpoints_v4')!.elements.length, 1000);
  });
});

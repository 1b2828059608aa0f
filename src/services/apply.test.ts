import assert from 'node:assert/strict';
import { test } from 'node:test';
import { staleFlows } from './stale.js';
import { compileServices } from './compiler.js';
import { endpoint, service, slice, snapshot } from './fixtures.js';

test('staleFlows: UDP endpoints that went away, per Service address and NodePort; TCP never', () => {
  const svcs = [
    service('dns', { clusterIP: '10.96.0.10', type: 'NodePort', externalIPs: ['198.51.100.1'], ports: [{ name: 'u', port: 53, protocol: 'UDP', targetPort: 53, nodePort: 30053 }, { name: 't', port: 53, protocol: 'TCP', targetPort: 53 }] }),
  ];
  const ports = [{ name: 'u', port: 53, protocol: 'UDP' as const }, { name: 't', port: 53, protocol: 'TCP' as const }];
  const before = compileServices(snapshot(svcs, [slice('dns', [endpoint('10.244.1.2', 'n1'), endpoint('10.244.2.2', 'n2')], ports)])).resolved.ports;
  const after = compileServices(snapshot(svcs, [slice('dns', [endpoint('10.244.2.2', 'n2')], ports)])).resolved.ports;
  assert.deepEqual(staleFlows(before, after), [
    { protocol: 'udp', origDst: '10.96.0.10', origDstPort: 53, replySrc: '10.244.1.2', replySrcPort: 53 },
    { protocol: 'udp', origDst: '198.51.100.1', origDstPort: 53, replySrc: '10.244.1.2', replySrcPort: 53 },
    { protocol: 'udp', origDstPort: 30053, replySrc: '10.244.1.2', replySrcPort: 53 },
  ]);
  assert.deepEqual(staleFlows(after, after), []);
  assert.equal(staleFlows(before, []).length, 6, 'a deleted Service clears both endpoints');
});

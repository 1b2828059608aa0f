import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkPolicy } from '../../model/types.js';
import { evaluate, type PolicySnapshot } from '../../policy/index.js';
import { endpoint, service, slice, snapshot } from '../../services/fixtures.js';
import { resolveServices } from '../../services/index.js';
import { explainService, formatServiceExplanation, type ServiceExplainInput } from './explain.js';
import { TwillError } from '../../util/errors.js';

// web-1 on n1 (this node), web-2 on n2; a client pod on n1; only pods labelled role=friend may reach web.
const pods: PolicySnapshot['pods'] = [
  { namespace: 'default', name: 'web-1', labels: { app: 'web' }, ips: ['10.244.1.5'], node: 'n1', ports: [] },
  { namespace: 'default', name: 'web-2', labels: { app: 'web' }, ips: ['10.244.2.5'], node: 'n2', ports: [] },
  { namespace: 'default', name: 'friend', labels: { role: 'friend' }, ips: ['10.244.1.9'], node: 'n1', ports: [] },
  { namespace: 'default', name: 'stranger', labels: {}, ips: ['10.244.1.10'], node: 'n1', ports: [] },
];
const onlyFriends: NetworkPolicy = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'default', name: 'only-friends' },
  spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { role: 'friend' } } }] }] },
};
const policy: PolicySnapshot = { node: 'n1', namespaces: [{ name: 'default', labels: {} }], pods, policies: [onlyFriends], localEndpoints: [] };

function input(over: Partial<ServiceExplainInput>, services = [service('web', { clusterIP: '10.96.0.20', type: 'NodePort', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] })], slices = [slice('web', [endpoint('10.244.1.5', 'n1'), endpoint('10.244.2.5', 'n2')])]): ServiceExplainInput {
  const snap = snapshot(services, slices);
  return {
    resolved: resolveServices(snap), node: snap.node, podCidrs: snap.podCidrs, src: { pod: 'default/friend' }, to: { service: 'default/web' }, protocol: 'TCP',
    evaluate: (f) => evaluate(policy, f), ...over,
  };
}

describe('policy explain through a Service', () => {
  it('names every endpoint the ClusterIP reaches, with the verdict after translation', () => {
    const ok = explainService(input({}))!;
    assert.deepEqual(ok.service, { namespace: 'default', name: 'web', address: '10.96.0.20', port: 80, protocol: 'TCP', via: 'ClusterIP' });
    assert.deepEqual(ok.endpoints.map((e) => [e.ip, e.port, e.local, e.verdict.allowed, e.verdict.dst.kind === 'pod' && e.verdict.dst.pod]), [
      ['10.244.1.5', 8080, true, true, 'default/web-1'],
      ['10.244.2.5', 8080, false, true, 'default/web-2'],
    ]);
    assert.equal(ok.allowed, true);
    const denied = explainService(input({ src: { pod: 'default/stranger' }, to: { ip: '10.96.0.20' }, port: 80 }))!;
    assert.equal(denied.allowed, false);
    assert.ok(denied.endpoints.every((e) => !e.verdict.allowed && e.verdict.ingress.reason === 'no-rule-matched'), 'the policy of the endpoint pod denies, on the endpoint port');
    const text = formatServiceExplanation(denied);
    assert.match(text, /^DENIED {2}svc\/default\/web 10\.96\.0\.20:80\/TCP \(ClusterIP\) → 2 endpoints$/m);
    assert.match(text, /DENIED +10\.244\.2\.5:8080 {2}pod default\/web-2 on n2$/m);
    assert.match(text, /no rule of default\/only-friends allows it/);
  });

  it('an address no Service answers on is not a Service flow; a wrong port or Service is named', () => {
    assert.equal(explainService(input({ to: { ip: '10.96.9.9' }, port: 80 })), undefined);
    assert.equal(explainService(input({ to: { ip: '10.96.0.20' }, port: 81 })), undefined);
    assert.throws(() => explainService(input({ port: 81 })), (e: unknown) => e instanceof TwillError && /no port 81\/tcp \(its ports: 80\/tcp\)/.test(e.message));
    assert.throws(() => explainService(input({ to: { service: 'default/nope' } })), (e: unknown) => e instanceof TwillError && e.code === 'NOT_FOUND');
  });

  it('NodePort from outside: masqueraded (the endpoint sees the node); eTP=Local keeps the client and this node\'s endpoints only', () => {
    const ext = explainService(input({ src: { ip: '192.0.2.1' }, to: { ip: '192.0.2.11' }, port: 30080 }))!;
    assert.equal(ext.service.via, 'NodePort');
    assert.equal(ext.endpoints.length, 2);
    assert.ok(ext.endpoints.every((e) => e.verdict.src.kind === 'host' && e.verdict.src.ip === '192.0.2.11'));
    assert.ok(ext.notes.some((n) => /masqueraded/.test(n)));
    const local = explainService(input({ src: { ip: '192.0.2.1' }, to: { ip: '192.0.2.11' }, port: 30080 }, [service('web', { clusterIP: '10.96.0.20', type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] })]))!;
    assert.deepEqual(local.endpoints.map((e) => [e.ip, e.verdict.src.ip]), [['10.244.1.5', '192.0.2.1']]);
    assert.equal(local.allowed, false, 'an outside client is no friend');
  });

  it('no endpoints: rejected, not allowed', () => {
    const none = explainService(input({}, undefined, []))!;
    assert.equal(none.allowed, false);
    assert.deepEqual(none.endpoints, []);
    assert.match(formatServiceExplanation(none), /no endpoints: new connections are rejected at once/);
  });
});

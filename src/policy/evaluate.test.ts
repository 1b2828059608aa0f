import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkPolicy } from '../model/types.js';
import { isTwillError } from '../util/errors.js';
import { evaluate, formatRuleRef, type Flow, type FlowEnd } from './evaluate.js';
import type { PolicySnapshot } from './snapshot.js';

const pol = (ns: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name }, spec });

function cluster(...policies: NetworkPolicy[]): PolicySnapshot {
  return {
    node: 'n1',
    namespaces: [
      { name: 'shop', labels: { team: 'shop', env: 'prod' } },
      { name: 'ops', labels: { team: 'ops' } },
      { name: 'dev', labels: { env: 'dev' } },
    ],
    pods: [
      { namespace: 'shop', name: 'web', labels: { app: 'web', tier: 'fe' }, ips: ['10.244.1.2'], node: 'n1', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }] },
      { namespace: 'shop', name: 'api', labels: { app: 'api', tier: 'be' }, ips: ['10.244.1.3', 'fd00:10:244:1::3'], node: 'n1', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] },
      { namespace: 'shop', name: 'db', labels: { app: 'db' }, ips: ['10.244.2.2'], node: 'n2', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] },
      { namespace: 'ops', name: 'prom', labels: { app: 'prom' }, ips: ['10.244.2.3', 'fd00:10:244:2::3'], node: 'n2', ports: [] },
      { namespace: 'dev', name: 'web', labels: { app: 'web' }, ips: ['10.244.3.2'], node: 'n3', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
    ],
    policies,
    localEndpoints: [],
  };
}

const P = (key: string): FlowEnd => ({ pod: key });
const tcp = (src: FlowEnd, dst: FlowEnd, port: number): Flow => ({ src, dst, protocol: 'TCP', port });
const ok = (s: PolicySnapshot, f: Flow): boolean => evaluate(s, f).allowed;

const denyIngressShop = pol('shop', 'deny-in', { podSelector: {} });
const denyEgressShop = pol('shop', 'deny-out', { podSelector: {}, policyTypes: ['Egress'] });

test('no policy: everything is allowed, nobody is isolated', () => {
  const v = evaluate(cluster(), tcp(P('ops/prom'), P('shop/db'), 5432));
  assert.equal(v.allowed, true);
  assert.equal(v.egress.reason, 'not-isolated');
  assert.equal(v.ingress.reason, 'not-isolated');
  assert.match(v.explanation, /^Allowed: pod ops\/prom \(10\.244\.2\.3\) → pod shop\/db \(10\.244\.2\.2\) TCP\/5432\. No policy selects/);
});

test('default deny ingress: missing ingress list and `ingress: []` both deny; other namespaces unaffected', () => {
  const s = cluster(denyIngressShop);
  const v = evaluate(s, tcp(P('ops/prom'), P('shop/db'), 5432));
  assert.equal(v.allowed, false);
  assert.equal(v.ingress.isolated, true);
  assert.deepEqual(v.ingress.policies, ['shop/deny-in']);
  assert.match(v.explanation, /^Denied: .*isolated for ingress by shop\/deny-in, and none of their ingress rules allows this flow/);
  assert.equal(ok(cluster(pol('shop', 'x', { podSelector: {}, ingress: [] })), tcp(P('ops/prom'), P('shop/db'), 5432)), false);
  assert.equal(ok(s, tcp(P('shop/db'), P('ops/prom'), 80)), true, 'ingress isolation does not isolate egress');
});

test('default deny egress, and policyTypes defaults: Egress only when egress rules exist', () => {
  assert.equal(ok(cluster(denyEgressShop), tcp(P('shop/web'), P('ops/prom'), 80)), false);
  assert.equal(ok(cluster(denyEgressShop), tcp(P('ops/prom'), P('shop/web'), 8080)), true);
  // `egress: []` without policyTypes: the API defaults to Ingress only, so egress stays open.
  const noTypes = pol('shop', 'x', { podSelector: {}, ingress: [{}], egress: [] });
  assert.equal(ok(cluster(noTypes), tcp(P('shop/web'), P('ops/prom'), 80)), true);
  // Non-empty egress rules without policyTypes: Ingress and Egress.
  const withEgress = pol('shop', 'y', { podSelector: {}, egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] });
  assert.equal(ok(cluster(withEgress), tcp(P('shop/web'), P('ops/prom'), 80)), false);
  assert.equal(ok(cluster(withEgress), { src: P('shop/web'), dst: P('ops/prom'), protocol: 'UDP', port: 53 }), true);
  assert.equal(ok(cluster(withEgress), tcp(P('ops/prom'), P('shop/web'), 8080)), false, 'and ingress is isolated (no ingress rules)');
});

test('a rule with no from allows every source; no ports allows every port and protocol, ICMP included', () => {
  const s = cluster(pol('shop', 'open', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{}] }));
  assert.equal(ok(s, tcp({ ip: '198.51.100.7' }, P('shop/db'), 1)), true);
  assert.equal(ok(s, { src: P('dev/web'), dst: P('shop/db'), protocol: 'ICMP' }), true);
  const v = evaluate(s, { src: P('dev/web'), dst: P('shop/db'), protocol: 'SCTP', port: 9 });
  assert.equal(formatRuleRef(v.ingress.deciding!), 'shop/open ingress[0]');
});

test('podSelector alone means the policy namespace; {} means every pod there', () => {
  const s = cluster(pol('shop', 'p', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: {} }] }] }));
  assert.equal(ok(s, tcp(P('shop/web'), P('shop/db'), 5432)), true);
  assert.equal(ok(s, tcp(P('dev/web'), P('shop/db'), 5432)), false, 'same labels, other namespace');
  assert.equal(ok(s, tcp({ ip: '10.244.9.9' }, P('shop/db'), 5432)), false, 'selectors never match non-pod addresses');
});

test('namespaceSelector; pod AND namespace in one peer vs two peers OR-ed', () => {
  const and = cluster(pol('shop', 'p', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'ops' } }, podSelector: { matchLabels: { app: 'web' } } }] }] }));
  assert.equal(ok(and, tcp(P('ops/prom'), P('shop/db'), 5432)), false, 'ops namespace but not app=web');
  assert.equal(ok(and, tcp(P('dev/web'), P('shop/db'), 5432)), false, 'app=web but not in an ops namespace');
  const or = cluster(pol('shop', 'p', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'ops' } } }, { podSelector: { matchLabels: { app: 'web' } } }] }] }));
  assert.equal(ok(or, tcp(P('ops/prom'), P('shop/db'), 5432)), true);
  assert.equal(ok(or, tcp(P('shop/web'), P('shop/db'), 5432)), true);
  assert.equal(ok(or, tcp(P('dev/web'), P('shop/db'), 5432)), false, 'second peer is namespace-local');
  const allNs = cluster(pol('shop', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] }));
  assert.equal(ok(allNs, tcp(P('dev/web'), P('shop/db'), 1)), true);
  assert.equal(ok(allNs, tcp({ ip: '198.51.100.1' }, P('shop/db'), 1)), false);
  const byName = cluster(pol('shop', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'dev' } } }] }] }));
  assert.equal(ok(byName, tcp(P('dev/web'), P('shop/db'), 1)), true, 'every namespace carries kubernetes.io/metadata.name');
});

test('ipBlock with except, for external addresses and (as Calico does) pod addresses', () => {
  const s = cluster(pol('shop', 'p', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.2.0/24'] } }] }] }));
  assert.equal(ok(s, tcp(P('shop/web'), P('dev/web'), 8080)), true, 'pod address inside the block');
  assert.equal(ok(s, tcp(P('shop/web'), P('shop/db'), 5432)), false, 'pod address inside except');
  assert.equal(ok(s, tcp(P('shop/web'), { ip: '10.244.200.1' }, 1)), true, 'non-pod address in the block');
  assert.equal(ok(s, tcp(P('shop/web'), { ip: '192.0.2.9' }, 1)), false);
  const v6 = cluster(pol('shop', 'p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'fd00::/8' } }] }] }));
  assert.equal(ok(v6, tcp(P('ops/prom'), P('shop/api'), 80)), false, 'IPv4 flow, IPv6 block');
  assert.equal(ok(v6, tcp({ pod: 'ops/prom', ip: 'fd00:10:244:2::3' }, P('shop/api'), 80)), true, 'the family follows the explicit address');
});

test('ports: protocol defaults to TCP; UDP and SCTP; endPort ranges are inclusive', () => {
  const s = cluster(pol('shop', 'p', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ ports: [{ port: 5432 }, { protocol: 'UDP', port: 8000, endPort: 8010 }, { protocol: 'SCTP' }] }] }));
  assert.equal(ok(s, tcp(P('ops/prom'), P('shop/db'), 5432)), true);
  assert.equal(ok(s, { src: P('ops/prom'), dst: P('shop/db'), protocol: 'UDP', port: 5432 }), false, 'default protocol is TCP');
  assert.equal(ok(s, { src: P('ops/prom'), dst: P('shop/db'), protocol: 'UDP', port: 8000 }), true);
  assert.equal(ok(s, { src: P('ops/prom'), dst: P('shop/db'), protocol: 'UDP', port: 8010 }), true);
  assert.equal(ok(s, { src: P('ops/prom'), dst: P('shop/db'), protocol: 'UDP', port: 8011 }), false);
  assert.equal(ok(s, tcp(P('ops/prom'), P('shop/db'), 8005)), false);
  assert.equal(ok(s, { src: P('ops/prom'), dst: P('shop/db'), protocol: 'SCTP', port: 1 }), true);
  assert.equal(ok(s, { src: P('ops/prom'), dst: P('shop/db'), protocol: 'ICMP' }), false, 'port rules never match ICMP');
});

test('named ports resolve on the destination pod, with their protocol, for ingress and egress', () => {
  const ing = cluster(pol('shop', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'http' }] }] }));
  assert.equal(ok(ing, tcp(P('ops/prom'), P('shop/web'), 8080)), true, 'web: http is 8080');
  assert.equal(ok(ing, tcp(P('ops/prom'), P('shop/api'), 80)), true, 'api: http is 80');
  assert.equal(ok(ing, tcp(P('ops/prom'), P('shop/api'), 8080)), false);
  assert.equal(ok(ing, tcp(P('ops/prom'), P('shop/db'), 5432)), false, 'db has no port named http');
  const udp = cluster(pol('shop', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'dns' }] }] }));
  assert.equal(ok(udp, { src: P('ops/prom'), dst: P('shop/api'), protocol: 'UDP', port: 53 }), false, 'dns is UDP on api; the rule means TCP');
  const eg = cluster(pol('shop', 'p', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'http' }, { port: 'dns', protocol: 'UDP' }] }] }));
  assert.equal(ok(eg, tcp(P('shop/web'), P('dev/web'), 8080)), true);
  assert.equal(ok(eg, tcp(P('shop/web'), P('shop/api'), 80)), true);
  assert.equal(ok(eg, tcp(P('shop/web'), P('shop/api'), 8080)), false, 'resolved on the destination, not on the source');
  assert.equal(ok(eg, { src: P('shop/web'), dst: P('shop/api'), protocol: 'UDP', port: 53 }), true);
  assert.equal(ok(eg, tcp(P('shop/web'), { ip: '198.51.100.1' }, 8080)), false, 'a named port never matches a non-pod destination');
});

test('policies are additive: any selecting policy may allow', () => {
  const s = cluster(
    denyIngressShop,
    pol('shop', 'allow-prom', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'ops' } } }], ports: [{ port: 'metrics' }] }] }),
    pol('shop', 'allow-web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '198.51.100.0/24' } }, { namespaceSelector: {} }], ports: [{ port: 80 }, { port: 8080 }] }] }),
  );
  const v = evaluate(s, tcp(P('dev/web'), P('shop/web'), 8080));
  assert.equal(v.allowed, true);
  assert.deepEqual(v.ingress.policies, ['shop/allow-prom', 'shop/allow-web', 'shop/deny-in']);
  assert.equal(formatRuleRef(v.ingress.deciding!), 'shop/allow-web ingress[0] from[1] ports[1]');
  assert.match(v.explanation, /shop\/allow-web ingress\[0\] from\[1\] ports\[1\] allows this flow/);
  const m = evaluate(s, tcp(P('ops/prom'), P('shop/web'), 9090));
  assert.equal(formatRuleRef(m.ingress.deciding!), 'shop/allow-prom ingress[0] from[0] ports[0]');
  assert.equal(ok(s, tcp(P('ops/prom'), P('shop/api'), 9090)), false, 'api has no metrics port');
});

test('both sides must allow: source egress and destination ingress', () => {
  const s = cluster(denyEgressShop, pol('ops', 'deny', { podSelector: {} }));
  const v = evaluate(s, tcp(P('shop/web'), P('ops/prom'), 80));
  assert.equal(v.allowed, false);
  assert.equal(v.egress.allowed, false);
  assert.equal(v.ingress.allowed, false);
});

test('a pod may always reach itself', () => {
  const s = cluster(denyIngressShop, denyEgressShop);
  const v = evaluate(s, tcp(P('shop/web'), P('shop/web'), 8080));
  assert.equal(v.allowed, true);
  assert.equal(v.egress.reason, 'self');
  assert.match(v.explanation, /reach itself/);
  assert.equal(ok(s, tcp({ ip: '10.244.1.2' }, { ip: '10.244.1.2' }, 1)), true, 'addresses resolve to pods');
});

test('a node and its own pods always reach each other; another node is just an address', () => {
  const s = cluster(denyIngressShop, denyEgressShop);
  assert.equal(ok(s, tcp({ node: 'n1', ip: '192.0.2.1' }, P('shop/web'), 8080)), true);
  assert.equal(ok(s, tcp(P('shop/web'), { node: 'n1', ip: '192.0.2.1' }, 10250)), true);
  assert.equal(evaluate(s, tcp({ node: 'n1', ip: '192.0.2.1' }, P('shop/web'), 8080)).ingress.reason, 'node-local');
  assert.equal(ok(s, tcp({ node: 'n2', ip: '192.0.2.2' }, P('shop/web'), 8080)), false);
  const fromNodes = cluster(pol('shop', 'p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '192.0.2.0/24' } }] }] }));
  assert.equal(ok(fromNodes, tcp({ node: 'n2', ip: '192.0.2.2' }, P('shop/web'), 8080)), true);
});

test('resolution errors say what is wrong', () => {
  const s = cluster();
  assert.throws(() => evaluate(s, tcp(P('shop/nope'), P('shop/web'), 1)), (e) => isTwillError(e, 'NOT_FOUND') && /shop\/nope/.test(e.message));
  assert.throws(() => evaluate(s, tcp({ pod: 'shop/web', ip: '10.9.9.9' }, P('shop/api'), 1)), (e) => isTwillError(e, 'VALIDATION'));
  assert.throws(() => evaluate(s, tcp({ ip: '10.244.1.2' }, { ip: 'fd00::1' }, 1)), /different IP families/);
  assert.throws(() => evaluate(s, tcp({ pod: 'shop/web' }, { ip: 'fd00::1' }, 1)), /no IPv6 address/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkPolicy } from '../model/types.js';
import { validateNetworkPolicy } from './validate.js';

const base = (): NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: 'shop', name: 'allow-web' },
  spec: {
    podSelector: { matchLabels: { app: 'web' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'fe' } } }, { ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] } }], ports: [{ port: 80 }, { protocol: 'UDP', port: 'dns' }] }],
    egress: [{ to: [{ namespaceSelector: {}, podSelector: {} }], ports: [{ port: 8000, endPort: 8100 }] }],
  },
});

// Malformed policies are built by poking at untyped data: exactly what YAML can hand us.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

/** Applies `edit` to a fresh valid policy. */
function bad(edit: (p: Loose) => void): NetworkPolicy {
  const p = base() as unknown as Loose;
  edit(p);
  return p as unknown as NetworkPolicy;
}

test('a well-formed policy has no errors, including every optional feature', () => {
  assert.deepEqual(validateNetworkPolicy(base()), []);
  const minimal: NetworkPolicy = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'a', name: 'deny' }, spec: { podSelector: {} } };
  assert.deepEqual(validateNetworkPolicy(minimal), []);
  const v6 = bad((p) => (p.spec.ingress[0].from = [{ ipBlock: { cidr: 'fd00::/8', except: ['fd00:1::/32'] } }]));
  assert.deepEqual(validateNetworkPolicy(v6), []);
  const hostBits = bad((p) => (p.spec.ingress[0].from = [{ ipBlock: { cidr: '192.0.2.1/24' } }]));
  assert.deepEqual(validateNetworkPolicy(hostBits), [], 'the API server accepts host bits in ipBlock.cidr; so do we');
});

const CASES: [string, (p: Loose) => void, string, RegExp][] = [
  ['wrong apiVersion', (p) => (p.apiVersion = 'networking.k8s.io/v1beta1'), 'apiVersion', /networking\.k8s\.io\/v1/],
  ['wrong kind', (p) => (p.kind = 'Policy'), 'kind', /NetworkPolicy/],
  ['missing name', (p) => delete p.metadata.name, 'metadata.name', /required/],
  ['bad name', (p) => (p.metadata.name = 'Allow_Web'), 'metadata.name', /lowercase/],
  ['bad namespace', (p) => (p.metadata.namespace = 'a.b'), 'metadata.namespace', /lowercase/],
  ['missing podSelector', (p) => delete p.spec.podSelector, 'spec.podSelector', /required/],
  ['bad label key', (p) => (p.spec.podSelector = { matchLabels: { '-app': 'x' } }), 'spec.podSelector.matchLabels[-app]', /label key/],
  ['bad label value', (p) => (p.spec.podSelector = { matchLabels: { app: 'a b' } }), 'spec.podSelector.matchLabels[app]', /label value/],
  ['non-string label value', (p) => (p.spec.podSelector = { matchLabels: { app: 3 } }), 'spec.podSelector.matchLabels[app]', /string/],
  ['unknown operator', (p) => (p.spec.podSelector = { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['x'] }] }), 'spec.podSelector.matchExpressions[0].operator', /In, NotIn/],
  ['In without values', (p) => (p.spec.podSelector = { matchExpressions: [{ key: 'app', operator: 'In', values: [] }] }), 'spec.podSelector.matchExpressions[0].values', /non-empty/],
  ['Exists with values', (p) => (p.spec.podSelector = { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] }), 'spec.podSelector.matchExpressions[0].values', /empty/],
  ['bad expression key', (p) => (p.spec.podSelector = { matchExpressions: [{ key: 'a/b/c', operator: 'Exists' }] }), 'spec.podSelector.matchExpressions[0].key', /label key/],
  ['bad expression value', (p) => (p.spec.podSelector = { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['ok', '!'] }] }), 'spec.podSelector.matchExpressions[0].values[1]', /label value/],
  ['empty peer', (p) => (p.spec.ingress[0].from = [{}]), 'spec.ingress[0].from[0]', /must specify a peer/],
  ['ipBlock with selector', (p) => (p.spec.egress[0].to = [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }]), 'spec.egress[0].to[0]', /may not be combined/],
  ['bad peer namespaceSelector', (p) => (p.spec.ingress[0].from = [{ namespaceSelector: { matchLabels: { 'x/y/z': 'a' } } }]), 'spec.ingress[0].from[0].namespaceSelector.matchLabels[x/y/z]', /label key/],
  ['missing cidr', (p) => (p.spec.ingress[0].from = [{ ipBlock: { except: [] } }]), 'spec.ingress[0].from[0].ipBlock.cidr', /required/],
  ['bad cidr', (p) => (p.spec.ingress[0].from = [{ ipBlock: { cidr: '10.0.0.0/33' } }]), 'spec.ingress[0].from[0].ipBlock.cidr', /not a valid CIDR/],
  ['bare address as cidr', (p) => (p.spec.ingress[0].from = [{ ipBlock: { cidr: '10.0.0.1' } }]), 'spec.ingress[0].from[0].ipBlock.cidr', /not a valid CIDR/],
  ['except outside cidr', (p) => (p.spec.ingress[0].from[1].ipBlock.except = ['198.51.100.0/25']), 'spec.ingress[0].from[1].ipBlock.except[0]', /strict subset/],
  ['except equal to cidr', (p) => (p.spec.ingress[0].from[1].ipBlock.except = ['192.0.2.0/24']), 'spec.ingress[0].from[1].ipBlock.except[0]', /strict subset/],
  ['except of another family', (p) => (p.spec.ingress[0].from[1].ipBlock.except = ['fd00::/64']), 'spec.ingress[0].from[1].ipBlock.except[0]', /family/],
  ['except not a CIDR', (p) => (p.spec.ingress[0].from[1].ipBlock.except = ['nope']), 'spec.ingress[0].from[1].ipBlock.except[0]', /not a valid CIDR/],
  ['port 0', (p) => (p.spec.ingress[0].ports[0].port = 0), 'spec.ingress[0].ports[0].port', /1\.\.65535/],
  ['port too large', (p) => (p.spec.ingress[0].ports[0].port = 70000), 'spec.ingress[0].ports[0].port', /1\.\.65535/],
  ['fractional port', (p) => (p.spec.ingress[0].ports[0].port = 80.5), 'spec.ingress[0].ports[0].port', /1\.\.65535/],
  ['numeric string port', (p) => (p.spec.ingress[0].ports[0].port = '80'), 'spec.ingress[0].ports[0].port', /letter/],
  ['bad named port', (p) => (p.spec.ingress[0].ports[1].port = 'Web_Port'), 'spec.ingress[0].ports[1].port', /named port/],
  ['bad protocol', (p) => (p.spec.ingress[0].ports[1].protocol = 'ICMP'), 'spec.ingress[0].ports[1].protocol', /TCP, UDP or SCTP/],
  ['lowercase protocol', (p) => (p.spec.ingress[0].ports[1].protocol = 'tcp'), 'spec.ingress[0].ports[1].protocol', /TCP, UDP or SCTP/],
  ['endPort below port', (p) => (p.spec.egress[0].ports[0].endPort = 7999), 'spec.egress[0].ports[0].endPort', /greater than or equal/],
  ['endPort without port', (p) => (p.spec.egress[0].ports[0] = { endPort: 9000 }), 'spec.egress[0].ports[0].endPort', /only be set together/],
  ['endPort with named port', (p) => (p.spec.egress[0].ports[0] = { port: 'http', endPort: 9000 }), 'spec.egress[0].ports[0].endPort', /named port/],
  ['endPort out of range', (p) => (p.spec.egress[0].ports[0].endPort = 65536), 'spec.egress[0].ports[0].endPort', /1\.\.65535/],
  ['bad policyType', (p) => (p.spec.policyTypes = ['Ingress', 'Outbound']), 'spec.policyTypes[1]', /Ingress or Egress/],
  ['duplicate policyType', (p) => (p.spec.policyTypes = ['Egress', 'Egress']), 'spec.policyTypes[1]', /duplicate/],
  ['ingress not a list', (p) => (p.spec.ingress = { from: [] }), 'spec.ingress', /list/],
  ['unknown rule field', (p) => (p.spec.ingress[0].to = []), 'spec.ingress[0].to', /unknown field/],
  ['unknown peer field', (p) => (p.spec.egress[0].to = [{ serviceSelector: {} }]), 'spec.egress[0].to[0].serviceSelector', /unknown field/],
  ['port entry not an object', (p) => (p.spec.ingress[0].ports = [80]), 'spec.ingress[0].ports[0]', /object/],
];

test(`validation rejects ${CASES.length} bad policies, naming the field`, () => {
  assert.ok(CASES.length >= 25);
  for (const [what, edit, field, msg] of CASES) {
    const errs = validateNetworkPolicy(bad(edit));
    const hit = errs.find((e) => e.field === field);
    assert.ok(hit, `${what}: expected an error on ${field}, got ${JSON.stringify(errs)}`);
    assert.match(hit.message, msg, what);
  }
});

test('every problem is reported, not just the first', () => {
  const errs = validateNetworkPolicy(
    bad((p) => {
      p.metadata.name = '';
      p.spec.ingress[0].ports[0].port = 0;
      p.spec.policyTypes = ['Sideways'];
    }),
  );
  assert.deepEqual(errs.map((e) => e.field).sort(), ['metadata.name', 'spec.ingress[0].ports[0].port', 'spec.policyTypes[0]']);
});

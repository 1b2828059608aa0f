// Invalid NetworkPolicies end to end. The lab's etcd has no API server in front of it, so the
// agents validate: a policy written straight into the datastore (bypassing `lab apply`'s checks)
// must show up Rejected with its reason in `lab get networkpolicies`, be logged by every agent,
// and leave the datapath exactly as it was; an invalid UPDATE of an accepted policy must keep the
// accepted version in force.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { agentRequest } from '../../src/cli/client.js';
import { getPolicies } from '../../src/lab/get.js';
import { loadManifests } from '../../src/lab/manifest.js';
import type { NetworkPolicy } from '../../src/model/types.js';
import { NetpolLab } from './support/netpol-lab.js';
import { mismatches, type Matrix } from './support/truth-table.js';
import { disagreement } from './support/witnesses.js';

const LAB = 'npe3';
let np: NetpolLab;

before(async () => {
  np = await NetpolLab.start(LAB);
}, { timeout: 120_000 });

after(async () => {
  await np?.stop();
});

function policy(name: string, namespace: string, spec: unknown): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, ...(spec === undefined ? {} : { spec }) } as NetworkPolicy;
}

/** x/a admits only x/b: the accepted policy the invalid ones must not disturb. */
const A_FROM_B = policy('a-from-b', 'x', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] });

/** Invalid policies that would each change the datapath if an agent half-understood them. */
const INVALID: { policy: NetworkPolicy; reason: RegExp }[] = [
  // Read leniently (the bad type skipped), this is a default deny of ingress for all of x.
  { policy: policy('deny-all-typo', 'x', { podSelector: {}, policyTypes: ['Ingress', 'Egres'] }), reason: /spec\.policyTypes\[1\]: must be Ingress or Egress/ },
  // ipBlock and a selector in one peer: ambiguous, the API server refuses it.
  {
    policy: policy('mixed-peer', 'y', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16' }, podSelector: {} }] }] }),
    reason: /spec\.ingress\[0\]\.from\[0\]: ipBlock may not be combined with podSelector or namespaceSelector/,
  },
  // A range that ends before it starts, on an isolating policy for z.
  { policy: policy('bad-range', 'z', { podSelector: {}, ingress: [{ ports: [{ port: 81, endPort: 80 }] }] }), reason: /spec\.ingress\[0\]\.ports\[0\]\.endPort: must be greater than or equal to port \(81\)/ },
  // Malformed shapes, as a hand-written etcd value could have them.
  { policy: policy('no-spec', 'y', undefined), reason: /spec: is required/ },
  { policy: policy('labels-as-text', 'z', { podSelector: { matchLabels: 'pod=a' }, policyTypes: ['Ingress'] }), reason: /spec\.podSelector\.matchLabels: must be an object/ },
];

async function putRaw(p: NetworkPolicy): Promise<void> {
  await (await np.lab.store()).put(p);
  await np.sync();
}

async function assertDatapath(title: string, expected: Matrix): Promise<void> {
  const kernel = await np.kernelMatrix(expected);
  const report = await disagreement(np, title, { name: 'the datapath before', matrix: expected }, [{ name: 'the datapath now', matrix: kernel }]);
  if (report) assert.fail(report);
}

async function agentStatus(node: string): Promise<{ namespace: string; name: string; accepted: boolean; reason?: string; previousVersionInForce?: boolean }[]> {
  return (await agentRequest<{ policies: [] }>(np.lab.socket(node), 'GET', '/v1/policy/status', undefined, 5000)).policies;
}

async function assertLogged(policyKey: string, inForce: string): Promise<void> {
  for (const n of np.lab.state.nodes) {
    const lines = (await np.agentLog(n.name)).split('\n').filter((l) => l.includes('policy rejected') && l.includes(policyKey));
    assert.ok(lines.length > 0, `the agent on ${n.name} did not log that it rejected ${policyKey}`);
    assert.ok(lines.some((l) => l.includes(inForce)), `the agent on ${n.name} logged the rejection of ${policyKey} without "${inForce}":\n${lines.join('\n')}`);
  }
}

describe('invalid NetworkPolicies written straight into the datastore', () => {
  let baseline: Matrix;

  test('the accepted policy is in force', async () => {
    await putRaw(A_FROM_B);
    const evaluator = await np.evaluatorMatrix();
    assert.ok([...evaluator.values()].some((v) => !v), 'a-from-b denies something');
    await assertDatapath('with a-from-b', evaluator);
    baseline = evaluator;
  });

  test('lab apply would have refused them (so the direct write really bypasses validation)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twill-netpol-invalid-'));
    try {
      for (const { policy: p, reason } of INVALID) {
        const file = join(dir, `${p.metadata.name}.yaml`);
        await writeFile(file, stringify(p));
        await assert.rejects(loadManifests([file]), reason);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('each is Rejected with its reason in `lab get networkpolicies`, logged by every agent, and changes nothing', async (t) => {
    for (const { policy: p } of INVALID) await putRaw(p);
    const text = await getPolicies(np.lab, 'text');
    t.diagnostic(`lab get networkpolicies:\n${text}`);
    for (const { policy: p, reason } of INVALID) {
      const row = text.split('\n').find((l) => l.startsWith(`${p.metadata.namespace} `) && l.includes(` ${p.metadata.name} `));
      assert.ok(row, `lab get networkpolicies lists ${p.metadata.namespace}/${p.metadata.name}:\n${text}`);
      assert.match(row, /Rejected: /, 'no earlier version of it was ever accepted');
      assert.match(row, reason);
      await assertLogged(`${p.metadata.namespace}/${p.metadata.name}`, 'nothing');
    }
    assert.match(text.split('\n').find((l) => l.includes(' a-from-b '))!, /Accepted/);
    const json = JSON.parse(await getPolicies(np.lab, 'json')) as { items: { metadata: { name: string }; status: { accepted: boolean; reason?: string } }[] };
    for (const { policy: p, reason } of INVALID) {
      const item = json.items.find((i) => i.metadata.name === p.metadata.name)!;
      assert.equal(item.status.accepted, false);
      assert.match(item.status.reason ?? '', reason);
    }
    await assertDatapath('after writing the invalid policies', baseline);
    // The evaluator, which never sees a rejected policy, agrees.
    assert.deepEqual(mismatches(baseline, await np.evaluatorMatrix()), []);
  });

  test('an invalid update of an accepted policy keeps the accepted version in force', async () => {
    // Read leniently, this update would open x/a to everyone (an empty rule) …
    const update = policy('a-from-b', 'x', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress', 'Ingress'], ingress: [{}] });
    await putRaw(update);
    for (const n of np.lab.state.nodes) {
      const st = (await agentStatus(n.name)).find((p) => p.name === 'a-from-b')!;
      assert.equal(st.accepted, false, `${n.name} rejects the update`);
      assert.match(st.reason ?? '', /spec\.policyTypes\[1\]: duplicate value Ingress/);
      assert.equal(st.previousVersionInForce, true, `${n.name} keeps the accepted version`);
    }
    assert.match(await getPolicies(np.lab, 'text'), /a-from-b .*Rejected \(previous version in force\): spec\.policyTypes\[1\]: duplicate value Ingress/);
    await assertLogged('x/a-from-b', 'the previously accepted version');
    // … but x/a still admits x/b only.
    await assertDatapath('after the invalid update', baseline);
  });

  test('an agent restarted while the invalid update is stored still enforces the accepted version', async () => {
    const node = np.records.get('x/a')!.node; // where x/a's ingress is filtered
    await np.lab.stopAgent(node);
    await np.lab.startAgent(node);
    await np.syncWhenReady();
    const st = (await agentStatus(node)).find((p) => p.name === 'a-from-b')!;
    assert.equal(st.accepted, false);
    await assertDatapath(`after restarting the agent on ${node}`, baseline);
  });

  test('a valid update is accepted again and takes effect; deleting everything restores all connections', async () => {
    await putRaw(policy('a-from-b', 'x', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }] }] }));
    assert.match(await getPolicies(np.lab, 'text'), /a-from-b .*Accepted/);
    const now = await np.evaluatorMatrix();
    assert.ok(mismatches(baseline, now).length > 0, 'the valid update changes verdicts');
    await assertDatapath('after a valid update', now);
    await np.reset();
    const all = await np.evaluatorMatrix();
    assert.ok([...all.values()].every(Boolean));
    await assertDatapath('after deleting every policy', all);
  });
});

// `lab get networkpolicies` says Accepted only when every agent said so: a node whose agent does
// not answer makes the verdict Unknown, with the node named.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { getPolicies } from '../../src/lab/get.js';
import type { Lab } from '../../src/lab/lab.js';
import { TestScope } from '../support/scope.js';
import { applyYaml, upLab } from '../support/lab.js';

const scope = new TestScope();
let lab: Lab;

before(async () => {
  lab = await upLab(scope, 'rfgu', { nodes: 2 });
  await applyYaml(scope, lab, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny, namespace: default }\nspec: { podSelector: {} }\n');
});
after(() => scope.cleanup());

test('a policy is Unknown while an agent does not answer, Accepted again when it does', async () => {
  await lab.waitConverged();
  assert.match(await getPolicies(lab, 'text'), /deny .*Accepted/);
  await lab.stopAgent('node-2', 'SIGKILL');
  try {
    const text = await getPolicies(lab, 'text');
    assert.match(text, /deny .*Unknown: no verdict from node-2/);
    assert.doesNotMatch(text, /Accepted/);
    const json = JSON.parse(await getPolicies(lab, 'json')) as { items: { status: { accepted?: boolean; unknownOn?: string[] } }[] };
    assert.equal(json.items[0]!.status.accepted, undefined);
    assert.match(json.items[0]!.status.unknownOn!.join(), /node-2/);
  } finally {
    await lab.startAgent('node-2');
  }
  await lab.waitConverged();
  assert.match(await getPolicies(lab, 'text'), /deny .*Accepted/);
});

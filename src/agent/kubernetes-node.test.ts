// ipam: kubernetes on a Node that has no podCIDR yet: the agent waits for kube-controller-manager
// to assign one, saying what it waits for, instead of exiting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubernetesStore } from '../datastore/index.js';
import type { Node } from '../model/types.js';
import { Logger, setLogSink } from '../util/log.js';
import { KubernetesNode } from './kubernetes-node.js';

const node = (podCIDRs?: string[]): Node => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: podCIDRs ? { podCIDRs } : {} });

test('readWithPodCidrs waits until the Node has spec.podCIDRs, and says why it waits', async () => {
  const answers = [node(), node(), node(['10.244.3.0/24'])];
  let reads = 0;
  const store = { get: () => Promise.resolve(answers[Math.min(reads++, answers.length - 1)]) } as unknown as KubernetesStore;
  const lines: string[] = [];
  setLogSink({ write: (l: string) => lines.push(l) > 0 });
  try {
    const n = await new KubernetesNode(store, 'n1', new Logger('t')).readWithPodCidrs();
    assert.deepEqual(n.spec.podCIDRs, ['10.244.3.0/24']);
    assert.equal(reads, 3, 'read again until the podCIDR appeared');
    assert.equal(lines.filter((l) => /waiting for this Node's spec\.podCIDRs/.test(l) && /--allocate-node-cidrs/.test(l)).length, 1, 'one warning naming the fix (repeated every 30 s only)');
  } finally {
    setLogSink(process.stderr);
  }
});

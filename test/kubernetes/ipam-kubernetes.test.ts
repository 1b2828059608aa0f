// `ipam: kubernetes` end to end: a 2-node Kubernetes lab whose kube-controller-manager allocates
// node CIDRs (--allocate-node-cidrs), Twill installed from the operator's manifest rendered with
// the Helm value `ipam: kubernetes`. Pods on both nodes take their addresses from their own
// node's spec.podCIDRs (no IPAMBlock is ever claimed) and reach each other across nodes.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { DEFAULT_VALUES } from '../../src/deploy/values.js';
import { renderObjects } from '../../src/deploy/manifest.js';
import { Lab } from '../../src/lab/lab.js';
import { kubectlTarget, upKubeLab, waitNodesReady } from '../../src/lab/kubernetes/cluster.js';
import { installTwill } from '../../src/lab/kubernetes/install.js';
import { kubectlJson } from '../../src/lab/kubernetes/kubectl.js';
import { podNetnsPath, probeInNetns, type KubePod } from '../../src/lab/kubernetes/pods.js';
import { PAUSE_IMAGE } from '../../src/lab/kubernetes/node-runtime.js';
import { waitFor } from '../../src/lab/processes.js';
import type { LabState } from '../../src/lab/state.js';
import { cidrContains, parseCidr, parseIp } from '../../src/util/ip.js';
import { applyText, echoServer, podsByLabel, spreadDeployment } from '../support/kube-lab.js';
import { TestScope } from '../support/scope.js';

const NAME = 'klipam';
const POOL = '10.244.0.0/16';
const scope = new TestScope();
let st: LabState;

before(async () => {
  await Lab.down(NAME, () => undefined);
  scope.defer(() => Lab.down(NAME, () => undefined));
  st = await upKubeLab({ name: NAME, nodes: 2, cni: 'twill', install: 'none', pool: POOL }, () => undefined);
});
after(() => scope.cleanup());

type NodeList = { items: { metadata: { name: string }; spec: { podCIDRs?: string[] } }[] };

test('ipam: kubernetes — pods take addresses from their node\'s podCIDR and reach each other', { timeout: 300_000 }, async () => {
  const target = kubectlTarget(st);
  // What `helm install --set ipam=kubernetes` renders (the chart is the same render with references).
  const file = join(await scope.tmpdir('klipam-'), 'twill.yaml');
  await writeFile(file, renderObjects({ ...DEFAULT_VALUES, ipam: 'kubernetes', pool: POOL }).map((o) => stringify(o)).join('---\n'));
  await installTwill(target, () => undefined, file);
  await waitNodesReady(target, 2, 90_000);

  const podCidrs = new Map((await kubectlJson<NodeList>(target, ['get', 'nodes'])).items.map((n) => [n.metadata.name, n.spec.podCIDRs ?? []]));
  for (const [n, c] of podCidrs) assert.equal(c.length, 1, `kube-controller-manager gave ${n} a podCIDR`);
  assert.notDeepEqual(podCidrs.get('node-1'), podCidrs.get('node-2'));

  await applyText(st, spreadDeployment('ipk', 2, PAUSE_IMAGE));
  let pods: KubePod[] = [];
  await waitFor('ipk pods Running on both nodes', async () => {
    pods = (await podsByLabel(st, 'app=ipk')).filter((p) => p.status.phase === 'Running' && p.status.podIP);
    return new Set(pods.map((p) => p.spec.nodeName)).size === 2;
  }, 120_000, 500);
  pods.sort((a, b) => a.spec.nodeName!.localeCompare(b.spec.nodeName!));
  for (const p of pods) {
    const cidr = podCidrs.get(p.spec.nodeName!)![0]!;
    assert.ok(cidrContains(parseCidr(cidr), parseIp(p.status.podIP!)), `${p.metadata.name} on ${p.spec.nodeName}: ${p.status.podIP} lies in the node's podCIDR ${cidr}`);
  }
  const blocks = await kubectlJson<{ items: unknown[] }>(target, ['get', 'ipamblocks.twill.dev']);
  assert.equal(blocks.items.length, 0, 'no block was claimed from Twill\'s pool');

  const [a, b] = pods as [KubePod, KubePod];
  await echoServer(scope, st, a, 8080);
  await echoServer(scope, st, b, 8080);
  const connects = async (from: KubePod, to: KubePod): Promise<boolean> => {
    for (let i = 0; i < 10; i++) if ((await probeInNetns(await podNetnsPath(st, from), [{ ip: to.status.podIP!, port: 8080, timeoutMs: 1000 }]))[0]!.ok) return true;
    return false;
  };
  assert.ok(await connects(a, b), `${a.spec.nodeName} → ${b.spec.nodeName}`);
  assert.ok(await connects(b, a), `${b.spec.nodeName} → ${a.spec.nodeName}`);
});

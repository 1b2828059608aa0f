// The datapath belongs to the kernel: an agent killed mid-stream, or etcd gone for 30 s, must not
// hurt pod traffic, and everything converges when they return.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createNetns, deleteNetns, netnsPath } from '../../src/dataplane/kernel/netns.js';
import { LabKubelet } from '../../src/lab/kubelet.js';
import type { Lab } from '../../src/lab/lab.js';
import { probeFrom } from '../../src/lab/pod-sandbox.js';
import { waitFor } from '../../src/lab/processes.js';
import { nodeDir, podDir } from '../../src/lab/state.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestScope } from '../support/scope.js';
import { allConnected, applyYaml, podYaml, routingState, upLab } from '../support/lab.js';
import { waitTcpListening } from '../support/listening.js';

const NAME = 'tres';
const scope = new TestScope();
let lab: Lab;

before(async () => {
  // A restart takes a few seconds under load; the lease must outlive it (production default: 20 s).
  lab = await upLab(scope, NAME, { nodes: 3, leaseTtlSeconds: 15 });
  let yaml = 'apiVersion: v1\nkind: Namespace\nmetadata: { name: r }\n---\n';
  for (const n of [1, 2, 3]) yaml += podYaml('r', `p${n}`, `node-${n}`, [80]);
  await applyYaml(scope, lab, yaml);
});
after(() => scope.cleanup());

interface IperfInterval {
  sum: { bytes: number; seconds: number };
}

test('agent SIGKILLed and restarted during a TCP stream: the stream survives, no route changes', { timeout: 120_000 }, async () => {
  const kube = new LabKubelet(lab);
  const p1 = (await kube.record('r', 'p1'))!;
  const p2 = (await kube.record('r', 'p2'))!;
  const before = { n1: await routingState(lab, 'node-1'), n2: await routingState(lab, 'node-2') };
  for (const [n, st] of Object.entries(before)) {
    // Two empty states would compare equal: the comparison below is only worth something if each
    // holds the routes to both peers' blocks and the VXLAN device.
    assert.ok(st.split('\n').filter((l) => l.includes(' via ')).length >= 2 && / vxlan id /.test(st), `${n}: routing state read from the kernel:\n${st}`);
  }
  scope.spawn('ip', ['netns', 'exec', p2.netns, 'iperf3', '-s', '-1', '-p', '5202']);
  await waitTcpListening(p2.netns, 5202);
  // 8 s of TCP from a pod on node-1 to a pod on node-2, limited to 200 Mbit/s so the machine
  // stays responsive; both nodes' agents are killed and restarted in the middle of it.
  const client = spawn('ip', ['netns', 'exec', p1.netns, 'iperf3', '-c', p2.ip, '-p', '5202', '-t', '8', '-b', '200M', '-i', '1', '-J'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  client.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<number>((r) => client.on('close', (c) => r(c ?? 1)));
  await new Promise((r) => setTimeout(r, 2000));
  await lab.stopAgent('node-1', 'SIGKILL');
  await lab.stopAgent('node-2', 'SIGKILL');
  await new Promise((r) => setTimeout(r, 1500));
  await lab.startAgent('node-1');
  await lab.startAgent('node-2');
  assert.equal(await done, 0, `iperf3 failed: ${out.slice(-500)}`);
  const intervals = (JSON.parse(out) as { intervals: IperfInterval[] }).intervals;
  const starved = intervals.filter((i) => i.sum.bytes === 0);
  assert.equal(starved.length, 0, `no one-second interval without traffic (${intervals.map((i) => i.sum.bytes).join(',')})`);
  await lab.waitConverged();
  for (const n of ['node-1', 'node-2']) {
    const st = await lab.agentStatus(n);
    const log = (await readFile(join(nodeDir(NAME, n), 'agent.log'), 'utf8')).split('\n').filter((l) => l.includes('routing')).slice(-6).join('\n');
    assert.equal((st.routing as { totalChanges?: number } | undefined)?.totalChanges, 0, `${n}: the restarted agent found nothing to change:\n${log}`);
  }
  assert.equal(await routingState(lab, 'node-1'), before.n1);
  assert.equal(await routingState(lab, 'node-2'), before.n2);
});

test('etcd stopped for 30 s: pod traffic unaffected, ADD still works, everything converges after', { timeout: 180_000 }, async () => {
  const kube = new LabKubelet(lab);
  const p3 = (await kube.record('r', 'p3'))!;
  await lab.stopEtcd();
  let etcdDown = true;
  try {
    // Existing traffic, probed every second for 30 s.
    const failures: string[] = [];
    let newIp: string | undefined;
    const newPod = 'twl-tres-outage-pod';
    scope.defer(() => deleteNetns(newPod));
    for (let i = 0; i < 30; i++) {
      const t0 = Date.now();
      const [r] = await probeFrom(podDir(NAME, 'r', 'p1'), [{ ip: p3.ip, port: 80, protocol: 'tcp', timeoutMs: 800 }]);
      if (!r?.connected) failures.push(`t=${i}s: ${r?.detail}`);
      if (i === 5) {
        // A new pod on node-3 while the datastore is gone: CNI ADD works from the node's block.
        await createNetns(newPod);
        const rt = { containerId: 'outage-pod', netns: netnsPath(newPod), ifname: 'eth0', args: { K8S_POD_NAMESPACE: 'r', K8S_POD_NAME: 'outage' } };
        const res = (await lab.runtime('node-3').addNetworkList(lab.conflist('node-3'), rt)) as { ips: { address: string }[] };
        newIp = res.ips[0]!.address.split('/')[0];
        scope.defer(() => lab.runtime('node-3').delNetworkList(lab.conflist('node-3'), rt).catch(() => undefined));
      }
      if (i === 6 && newIp) {
        const [r2] = await probeFrom(podDir(NAME, 'r', 'p1'), [{ ip: newIp, port: 9, protocol: 'tcp', timeoutMs: 800 }]);
        // Nothing listens there: a refused connection proves the packet reached the pod and back.
        assert.ok(r2?.connected || r2?.detail === 'ECONNREFUSED', `pod on node-1 reaches the pod added during the outage: ${r2?.detail}`);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t0))));
    }
    assert.deepEqual(failures, [], 'existing pod traffic kept flowing');
    assert.ok(newIp, 'ADD worked during the outage');
    await lab.startEtcd();
    etcdDown = false;
    await waitFor('agents reconnected', async () => {
      for (const n of lab.state.nodes) if (!(await lab.agentStatus(n.name)).cluster?.datastore.connected) return false;
      return true;
    }, 30_000, 200);
    await lab.waitConverged();
    // The cluster works as before: a new pod through the datastore, the full matrix.
    await applyYaml(scope, lab, podYaml('r', 'after', 'node-2', [80]));
    const { ok, failed } = await allConnected(lab);
    assert.ok(ok, `after the outage: ${JSON.stringify(failed)}`);
  } finally {
    if (etcdDown) await lab.startEtcd();
  }
});

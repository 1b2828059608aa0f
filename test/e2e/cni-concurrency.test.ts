// Many pods at once, and the agent killed in the middle of a burst.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HOST_VETH_PREFIX } from '../../src/dataplane/kernel/names.js';
import { mapLimit } from '../../src/util/mutex.js';
import type { RuntimeConf } from '../../src/lab/cni-runtime.js';
import { TestScope } from '../support/scope.js';
import { NodeHarness, resultIp } from '../support/node-harness.js';

const scope = new TestScope();
let node: NodeHarness;

before(async () => {
  node = await NodeHarness.start(scope, { podCidr: '10.244.0.0/23' });
});
after(() => scope.cleanup());

async function records(): Promise<string[]> {
  return (await readdir(join(node.stateDir(), 'ipam')).catch(() => [])).filter((f) => /^\d/.test(f));
}

async function hostVeths(): Promise<string[]> {
  const out = (await node.exec(node.netns, ['ip', '-br', 'link'])).stdout;
  return out.split('\n').map((l) => l.split(/[\s@]/)[0] ?? '').filter((n) => n.startsWith(HOST_VETH_PREFIX));
}

async function allReachable(ips: string[]): Promise<string[]> {
  const failed: string[] = [];
  await mapLimit(ips, 16, async (ip) => {
    if (!(await node.ping(node.netns, ip))) failed.push(ip);
  });
  return failed;
}

test('200 concurrent ADDs: distinct addresses, every pod reachable, DEL releases all', { timeout: 240_000 }, async () => {
  const list = node.conflist();
  const pods: RuntimeConf[] = [];
  for (let i = 0; i < 200; i++) pods.push(await node.sandbox());
  const t0 = Date.now();
  const results = await Promise.allSettled(pods.map((p) => node.runtime.addNetworkList(list, p)));
  const failures = results.filter((r) => r.status === 'rejected');
  assert.equal(failures.length, 0, `failed ADDs: ${failures.slice(0, 3).map((f) => String((f as PromiseRejectedResult).reason)).join('; ')}`);
  const ips = results.map((r) => resultIp((r as PromiseFulfilledResult<unknown>).value));
  assert.equal(new Set(ips).size, 200, 'no address handed out twice');
  console.log(`# 200 concurrent ADDs in ${Date.now() - t0} ms`);
  assert.deepEqual(await allReachable(ips), [], 'every pod answers a ping from the node');
  // A pod reaches another.
  assert.ok(await node.ping((pods[0] as RuntimeConf & { name: string }).name, ips[199]!));
  assert.equal((await records()).length, 200);
  await mapLimit(pods, 20, (p) => node.runtime.delNetworkList(list, p));
  assert.equal((await records()).length, 0, 'every address released');
  assert.deepEqual(await hostVeths(), []);
});

test('agent SIGKILLed during an ADD burst, then restarted: no duplicate, no leak after GC', { timeout: 240_000 }, async () => {
  const list = node.conflist();
  const pods: RuntimeConf[] = [];
  for (let i = 0; i < 60; i++) pods.push(await node.sandbox());
  // Two waves, so the kill lands mid-burst however fast or slow the machine is: the first wave
  // completes; the agent is killed as soon as it has begun serving the second (its first address
  // record appears), while most of that wave is still starting up or in flight.
  const first = pods.slice(0, 20);
  const firstResults = await Promise.allSettled(first.map((p) => node.runtime.addNetworkList(list, p)));
  const secondBurst = Promise.allSettled(pods.slice(20).map((p) => node.runtime.addNetworkList(list, p)));
  const until = Date.now() + 30_000;
  while ((await records()).length <= first.length && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
  await node.stopAgent('SIGKILL');
  const results = [...firstResults, ...(await secondBurst)];
  await node.startAgent();

  const ok: { pod: RuntimeConf; ip: string }[] = [];
  const failed: RuntimeConf[] = [];
  results.forEach((r, i) => (r.status === 'fulfilled' ? ok.push({ pod: pods[i]!, ip: resultIp(r.value) }) : failed.push(pods[i]!)));
  console.log(`# burst: ${ok.length} ADDs succeeded, ${failed.length} failed while the agent was killed`);
  assert.ok(failed.length > 0, 'the kill interrupted some ADDs');
  assert.ok(ok.length > 0, 'some ADDs completed before the kill');
  assert.equal(new Set(ok.map((o) => o.ip)).size, ok.length, 'no duplicate among completed ADDs');

  // What a runtime does next: DEL the failed sandboxes, then GC with the live ones.
  for (const p of failed) await node.runtime.delNetworkList(list, p);
  await node.runtime.gcNetworkList(list, ok.map((o) => ({ containerID: o.pod.containerId, ifname: 'eth0' })));
  const recs = (await records()).sort();
  assert.deepEqual(recs, ok.map((o) => o.ip).sort(), 'exactly the live pods hold addresses');
  assert.equal((await hostVeths()).length, ok.length, 'no stray host veths');
  assert.deepEqual(await allReachable(ok.map((o) => o.ip)), [], 'live pods still reachable');

  // Retrying the failed pods now works and never duplicates an address.
  const retried = await Promise.all(failed.map((p) => node.runtime.addNetworkList(list, p)));
  const all = [...ok.map((o) => o.ip), ...retried.map((r) => resultIp(r))];
  assert.equal(new Set(all).size, all.length);
  await mapLimit(pods, 20, (p) => node.runtime.delNetworkList(list, p));
  assert.equal((await records()).length, 0);
});

// The agent is not running: ADD/CHECK/GC say "try again later" (11), STATUS says "not available"
// (50), DEL still succeeds and leaves a tombstone the agent honours when it starts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hostVethName, tombstoneDir } from '../../src/dataplane/kernel/names.js';
import { CniPluginError } from '../../src/lab/cni-runtime.js';
import { TestScope } from '../support/scope.js';
import { NodeHarness, resultIp } from '../support/node-harness.js';

const scope = new TestScope();
let node: NodeHarness;

before(async () => {
  node = await NodeHarness.start(scope, { podCidr: '10.244.3.0/24' });
});
after(() => scope.cleanup());

const cniCode = (code: number) => (e: unknown) => e instanceof CniPluginError && e.cniCode === code;

test('agent down: ADD/CHECK/GC → 11, STATUS → 50; DEL succeeds and the address is released at agent start', async () => {
  const list = node.conflist();
  const pod = await node.sandbox();
  const ip = resultIp(await node.runtime.addNetworkList(list, pod));
  await node.stopAgent('SIGKILL');
  try {
    const other = await node.sandbox();
    await assert.rejects(node.runtime.addNetworkList(list, other), cniCode(11));
    await assert.rejects(node.runtime.checkNetworkList(list, pod), cniCode(11));
    await assert.rejects(node.runtime.gcNetworkList(list, []), cniCode(11));
    const [status] = await node.runtime.status(list);
    assert.equal(status?.code, 1);
    assert.equal((JSON.parse(status!.stdout) as { code: number }).code, 50);

    await node.runtime.delNetworkList(list, pod);
    await node.runtime.delNetworkList(list, pod);
    const links = (await node.exec(node.netns, ['ip', '-br', 'link'])).stdout;
    assert.ok(!links.includes(hostVethName(pod.containerId, 'eth0')), 'host veth removed by the shim');
    const podLinks = (await node.exec(pod.name, ['ip', '-br', 'link'])).stdout;
    assert.ok(!podLinks.includes('eth0'), 'pod interface removed by the shim');
    const stones = await readdir(tombstoneDir(node.socket));
    assert.equal(stones.length, 1, 'one tombstone');
    assert.ok((await readdir(join(node.stateDir(), 'ipam'))).includes(ip), 'address still recorded while the agent is down');
  } finally {
    await node.startAgent();
  }
  assert.ok(!(await readdir(join(node.stateDir(), 'ipam'))).includes(ip), 'address released once the agent started');
  assert.deepEqual(await readdir(tombstoneDir(node.socket)), [], 'tombstone consumed');
  const [status] = await node.runtime.status(list);
  assert.equal(status?.code, 0, `STATUS with the agent up: ${status?.stdout}`);
});

// The lab incident behind issue 13: one truncated attachment record and an agent restart cut the
// pod off, and the next pod got the live pod's address. A record the agent cannot read must never
// remove a live pod's network: it is quarantined, the pod is rebuilt from the kernel, and the
// fault is an ERROR in the log and a PROBLEM in `twill status`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostVethName } from '../../src/dataplane/kernel/names.js';
import { TestScope } from '../support/scope.js';
import { NodeHarness, resultIp } from '../support/node-harness.js';

const scope = new TestScope();
let node: NodeHarness;

before(async () => {
  node = await NodeHarness.start(scope, { podCidr: '10.244.7.0/28', prefix: 'rf-' });
});
after(() => scope.cleanup());

const linkExists = (name: string): Promise<boolean> => node.exec(node.netns, ['ip', 'link', 'show', name]).then(() => true, () => false);

test('a truncated attachment record and a restart: the pod keeps its network and its address', async () => {
  const list = node.conflist();
  const pod = await node.sandbox();
  const ip = resultIp(await node.runtime.addNetworkList(list, pod));
  assert.ok(await node.ping(node.netns, ip), 'pod reachable before the fault');

  await node.stopAgent('SIGKILL');
  const dir = join(node.stateDir(), 'attachments');
  const file = join(dir, `${pod.containerId}_eth0.json`);
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.slice(0, Math.floor(text.length / 2)));
  await node.startAgent();

  assert.ok(await linkExists(hostVethName(pod.containerId, 'eth0')), 'host veth kept');
  assert.ok(await node.ping(node.netns, ip), 'pod still reachable after the restart');
  assert.ok((await readdir(join(node.stateDir(), 'ipam'))).includes(ip), 'address record kept');
  const q = await readdir(join(node.stateDir(), 'quarantine'));
  assert.ok(q.some((f) => f.startsWith(`attachment-${pod.containerId}_eth0.json.`)), `quarantined: ${q.join(',')}`);

  // The next pods never get the live pod's address (the allocator starts from the block's start).
  const others: string[] = [];
  for (let i = 0; i < 3; i++) others.push(resultIp(await node.runtime.addNetworkList(list, await node.sandbox())));
  assert.ok(!others.includes(ip), `address ${ip} handed out again: ${others.join(',')}`);

  const log = await node.log();
  assert.match(log, /ERROR .*attachment record unreadable; quarantined it and rebuilt it from the kernel/);
  const status = await node.status();
  assert.match(status, /PROBLEMS \(\d+\):/);
  assert.match(status, new RegExp(`attachment record unreadable.*\\n.*${pod.containerId}`));
  assert.match(status, new RegExp(`${ip.replace(/\./g, '\\.')} .*rebuilt from the kernel`));

  // The rebuilt record is a real one: DEL removes the pod's network and frees its address.
  await node.runtime.delNetworkList(list, pod);
  assert.ok(!(await linkExists(hostVethName(pod.containerId, 'eth0'))), 'DEL removed the host veth');
  assert.ok(!(await readdir(join(node.stateDir(), 'ipam'))).includes(ip), 'DEL freed the address');
});

test('an empty record and a record that is a directory are quarantined the same way', async () => {
  const list = node.conflist();
  const a = await node.sandbox();
  const b = await node.sandbox();
  const ipA = resultIp(await node.runtime.addNetworkList(list, a));
  const ipB = resultIp(await node.runtime.addNetworkList(list, b));
  await node.stopAgent('SIGKILL');
  const dir = join(node.stateDir(), 'attachments');
  await writeFile(join(dir, `${a.containerId}_eth0.json`), '');
  const { rm, mkdir } = await import('node:fs/promises');
  await rm(join(dir, `${b.containerId}_eth0.json`));
  await mkdir(join(dir, `${b.containerId}_eth0.json`)); // unreadable: EISDIR
  await node.startAgent();
  assert.ok(await node.ping(node.netns, ipA));
  assert.ok(await node.ping(node.netns, ipB));
  const s = JSON.parse(await node.status('json')) as { attachments: { id: string; recovered?: string }[]; problems: { id: string }[] };
  for (const p of [a, b]) {
    assert.ok(s.attachments.find((x) => x.id === `${p.containerId}/eth0`)?.recovered, `${p.containerId} rebuilt`);
    assert.ok(s.problems.some((x) => x.id === `attachment:${p.containerId}/eth0`), `${p.containerId} listed as a problem`);
  }
  await node.runtime.delNetworkList(list, a);
  await node.runtime.delNetworkList(list, b);
});

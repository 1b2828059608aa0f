// CNI ADD succeeds only once the pod's policy and anti-spoofing entry are in the kernel. When
// that cannot be confirmed (the policy reconcile fails, the policy inputs were never read), ADD
// fails with CNI code 11 and says why, and leaves nothing behind (its undo stack runs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/dataplane/kernel/exec.js';
import { hostVethName } from '../../src/dataplane/kernel/names.js';
import { createNetns, deleteNetns, netnsPath } from '../../src/dataplane/kernel/netns.js';
import { CniPluginError } from '../../src/lab/cni-runtime.js';
import type { Lab } from '../../src/lab/lab.js';
import { nodeDir } from '../../src/lab/state.js';
import { TestScope } from '../support/scope.js';
import { upLab } from '../support/lab.js';

const NAME = 'rfpw';
const scope = new TestScope();
let lab: Lab;
let n = 0;

before(async () => {
  lab = await upLab(scope, NAME, { nodes: 1 });
});
after(() => scope.cleanup());

async function pod(): Promise<{ containerId: string; netns: string; ifname: string; args: Record<string, string> }> {
  const name = `rfpw-p${n++}`;
  await createNetns(name);
  scope.defer(() => deleteNetns(name));
  return { containerId: `rfpw-${name}`, netns: netnsPath(name), ifname: 'eth0', args: { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: name } };
}

const ns = (): string => lab.node('node-1').netns;
const linkExists = (l: string): Promise<boolean> => run('ip', ['-n', ns(), 'link', 'show', l]).then(() => true, () => false);
const inAntispoof = async (iface: string): Promise<boolean> => (await run('ip', ['netns', 'exec', ns(), 'nft', 'list', 'set', 'inet', 'twill-policy', 'endpoints'])).stdout.includes(iface);
const attachments = async (): Promise<string[]> => readdir(join(nodeDir(NAME, 'node-1'), 'state', 'attachments')).catch(() => []);

async function assertAddRefused(rt: Awaited<ReturnType<typeof pod>>, why: RegExp): Promise<void> {
  await assert.rejects(lab.runtime('node-1').addNetworkList(lab.conflist('node-1'), rt), (e) => e instanceof CniPluginError && e.cniCode === 11 && why.test(e.msg) ? true : assert.fail(`unexpected: ${String(e)}`));
  assert.ok(!(await linkExists(hostVethName(rt.containerId, 'eth0'))), 'the refused ADD left no veth');
  assert.ok(!(await attachments()).some((f) => f.startsWith(rt.containerId)), 'the refused ADD left no attachment record');
}

test('ADD returns once the anti-spoofing entry is in the kernel', async () => {
  const rt = await pod();
  await lab.runtime('node-1').addNetworkList(lab.conflist('node-1'), rt);
  assert.ok(await inAntispoof(hostVethName(rt.containerId, 'eth0')));
});

test('the policy reconcile fails: ADD fails with code 11, says why, and is undone', async () => {
  // The agent writes every transaction to <run>/nft/ before it sends it: make that impossible.
  const nftDir = join(nodeDir(NAME, 'node-1'), 'run', 'nft');
  await rm(nftDir, { recursive: true, force: true });
  await writeFile(nftDir, 'not a directory\n');
  try {
    await assertAddRefused(await pod(), /policy reconcile failed/);
  } finally {
    await rm(nftDir, { force: true });
    await mkdir(nftDir, { recursive: true });
  }
  // Fixed: the next ADD works.
  const rt = await pod();
  await lab.runtime('node-1').addNetworkList(lab.conflist('node-1'), rt);
  assert.ok(await inAntispoof(hostVethName(rt.containerId, 'eth0')));
});

test('the agent restarted while the datastore is down: ADD fails with code 11 until it can read policy', async () => {
  await lab.stopEtcd();
  try {
    await lab.stopAgent('node-1', 'SIGKILL');
    await lab.startAgent('node-1');
    await assertAddRefused(await pod(), /has not read the policy inputs from the datastore/);
  } finally {
    await lab.startEtcd();
  }
  const rt = await pod();
  for (let i = 0; ; i++) {
    try {
      await lab.runtime('node-1').addNetworkList(lab.conflist('node-1'), rt);
      break;
    } catch (e) {
      // The runtime retries code 11, as kubelet does.
      if (!(e instanceof CniPluginError && e.cniCode === 11) || i > 40) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  assert.ok(await inAntispoof(hostVethName(rt.containerId, 'eth0')));
});

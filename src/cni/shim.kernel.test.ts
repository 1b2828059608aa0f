// The agent-down DEL path for real: the built twill-cni, run inside a "node" namespace with no
// agent listening, must delete a pod's veth pair and leave a tombstone; DEL again must succeed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { hostVethName } from '../dataplane/kernel/names.js';
import { run } from '../dataplane/kernel/exec.js';
import { TestScope, uniqueName } from '../../test/support/scope.js';
import type { CniTombstone } from './api.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'twill-cni');

const scope = new TestScope();
let nodeNs: { name: string; path: string };
let podNs: { name: string; path: string };
let socket: string;

before(async () => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(b.status, 0, `build failed: ${b.stderr}`);
  nodeNs = await scope.netns('tw-cn-');
  podNs = await scope.netns('tw-cp-');
  socket = join(await scope.tmpdir('twill-cni-k-'), 'agent.sock'); // nothing listens here
});
after(() => scope.cleanup());

async function linkExists(ns: string, name: string): Promise<boolean> {
  return run('ip', ['-n', ns, 'link', 'show', 'dev', name]).then(
    () => true,
    () => false,
  );
}

/** A pod attachment as an agent would leave it: host end in the node netns, eth0 in the pod. */
async function plumb(containerId: string, ifname: string): Promise<string> {
  const veth = hostVethName(containerId, ifname);
  await run('ip', ['-n', nodeNs.name, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', ifname, 'netns', podNs.name]);
  assert.ok(await linkExists(nodeNs.name, veth), 'host end created');
  assert.ok(await linkExists(podNs.name, ifname), 'pod end created');
  return veth;
}

function del(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const conf = { cniVersion: '1.1.0', name: 'twill-k', type: 'twill-cni', agentSocket: socket };
  const r = spawnSync('ip', ['netns', 'exec', nodeNs.name, BIN], {
    input: JSON.stringify(conf),
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'DEL', CNI_PATH: '/opt/cni/bin', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tombstone(containerId: string, ifname: string): CniTombstone {
  const file = join(socket, '..', 'tombstones', `${containerId}-${ifname}.json`);
  assert.ok(existsSync(file), `tombstone ${file}`);
  return JSON.parse(readFileSync(file, 'utf8')) as CniTombstone;
}

describe('twill-cni DEL with the agent down (real kernel)', () => {
  it('removes the pod interface and the host veth, writes a tombstone, and succeeds twice', async () => {
    const containerId = uniqueName('ctr');
    const veth = await plumb(containerId, 'eth0');
    const env = { CNI_CONTAINERID: containerId, CNI_IFNAME: 'eth0', CNI_NETNS: podNs.path };
    for (let round = 1; round <= 2; round++) {
      const r = del(env);
      assert.equal(r.status, 0, `DEL #${round}: stdout ${r.stdout} stderr ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.doesNotMatch(r.stderr, /could not run/, `DEL #${round} ignores only "already gone"`);
    }
    assert.equal(await linkExists(podNs.name, 'eth0'), false, 'pod end removed');
    assert.equal(await linkExists(nodeNs.name, veth), false, 'host end removed');
    const t = tombstone(containerId, 'eth0');
    assert.deepEqual({ ...t, time: '' }, { containerId, ifname: 'eth0', netns: podNs.path, network: 'twill-k', time: '' });
    assert.ok(!Number.isNaN(Date.parse(t.time)));
  });

  it('removes the pair through the host veth when the runtime sent no CNI_NETNS', async () => {
    const containerId = uniqueName('ctr');
    const veth = await plumb(containerId, 'net1');
    const r = del({ CNI_CONTAINERID: containerId, CNI_IFNAME: 'net1' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(await linkExists(nodeNs.name, veth), false, 'host end removed');
    assert.equal(await linkExists(podNs.name, 'net1'), false, 'pod end went with it');
    assert.equal(tombstone(containerId, 'net1').netns, '');
  });

  it('deletes CNI_IFNAME inside CNI_NETNS itself (no host end to go through)', async () => {
    const containerId = uniqueName('ctr');
    await run('ip', ['-n', podNs.name, 'link', 'add', 'net2', 'type', 'veth', 'peer', 'name', 'net2peer']);
    const r = del({ CNI_CONTAINERID: containerId, CNI_IFNAME: 'net2', CNI_NETNS: podNs.path });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(await linkExists(podNs.name, 'net2'), false, 'pod interface removed by nsenter');
  });

  it('succeeds when the pod netns no longer exists', () => {
    const containerId = uniqueName('ctr');
    const r = del({ CNI_CONTAINERID: containerId, CNI_IFNAME: 'eth0', CNI_NETNS: '/run/netns/twill-k-gone' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(tombstone(containerId, 'eth0').netns, '/run/netns/twill-k-gone');
  });
});

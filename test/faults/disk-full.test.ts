// Fault injection: the state directory fills up (a small tmpfs) during a burst of ADDs. Every
// ADD either completes or fails with a clear error and leaves nothing behind; the pods that got
// an address keep it and stay reachable; no address is handed out twice; the fault is an ERROR
// line and a problem in `twill status`; once there is room again, ADD works and the problem clears.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/dataplane/kernel/exec.js';
import { hostVethName } from '../../src/dataplane/kernel/names.js';
import { CniPluginError } from '../../src/lab/cni-runtime.js';
import { TestScope } from '../support/scope.js';
import { NodeHarness, resultIp } from '../support/node-harness.js';
import { recordRuns, type FaultRun } from './support.js';

const scope = new TestScope();
let node: NodeHarness;

before(async () => {
  node = await NodeHarness.start(scope, { podCidr: '10.244.10.0/24', prefix: 'rf-', stateTmpfs: '160k' });
});
after(() => scope.cleanup());

const linkExists = (l: string): Promise<boolean> => node.exec(node.netns, ['ip', 'link', 'show', l]).then(() => true, () => false);

test('disk full during an ADD burst: all-or-nothing ADDs, visible, and recovery once there is room', { timeout: 120_000 }, async () => {
  const list = node.conflist();
  const pods = await Promise.all(Array.from({ length: 30 }, () => node.sandbox()));
  const ok = new Map<string, string>();
  const failed: typeof pods = [];
  const errors: string[] = [];
  for (let i = 0; i < pods.length; i += 6) {
    await Promise.all(pods.slice(i, i + 6).map(async (p) => {
      try {
        ok.set(p.containerId, resultIp(await node.runtime.addNetworkList(list, p)));
      } catch (e) {
        if (!(e instanceof CniPluginError)) throw e;
        failed.push(p);
        errors.push(e.msg);
      }
    }));
  }
  const r: FaultRun = { fault: 'disk full during an ADD burst', survived: false, nothingLost: false, visible: false };
  try {
    assert.ok(failed.length > 0, 'the tmpfs filled up (otherwise this test tests nothing)');
    assert.ok(ok.size > 0, 'some ADDs fitted');
    assert.ok(errors.every((m) => /cannot write|ENOSPC|no space/i.test(m)), `each failure says why: ${errors[0]}`);
    const ips = [...ok.values()];
    assert.equal(new Set(ips).size, ips.length, 'no address handed out twice');
    for (const p of failed) assert.ok(!(await linkExists(hostVethName(p.containerId, 'eth0'))), `failed ADD ${p.containerId} left a veth`);
    const recs = (await readdir(join(node.stateDir(), 'ipam'))).filter((f) => /^\d/.test(f));
    assert.deepEqual(recs.sort(), [...ips].sort(), 'address records are exactly those of the completed ADDs');
    for (const ip of ips.slice(0, 5)) assert.ok(await node.ping(node.netns, ip), `${ip} reachable`);
    r.nothingLost = true;
    const st = JSON.parse(await node.status('json')) as { problems: { id: string }[] };
    r.visible = st.problems.some((p) => p.id === 'state-write') && / ERROR .*cannot write the agent state directory.*problem=state-write/.test(await node.log());
    assert.ok(r.visible, 'the fault is visible in the log and twill status');

    // Room again: the failed pods can be added now, and the problem clears.
    await run('mount', ['-o', 'remount,size=4m', node.stateDir()]);
    for (const p of failed) ok.set(p.containerId, resultIp(await node.runtime.addNetworkList(list, p)));
    const all = [...ok.values()];
    assert.equal(new Set(all).size, all.length, 'no address handed out twice after recovery');
    const st2 = JSON.parse(await node.status('json')) as { problems: { id: string }[] };
    assert.ok(!st2.problems.some((p) => p.id === 'state-write'), 'the problem clears');
    for (const p of pods) await node.runtime.delNetworkList(list, p);
    r.survived = true;
  } finally {
    recordRuns([r]);
  }
});

// The lab's etcd as a process (a real etcd under a temp dir; no netns, but it spawns a server,
// hence .kernel.test.ts): a second start over a running one must be refused, or the running one
// is orphaned (the pid file names the second, which dies) and "stop" then stops nothing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { TestScope } from '../../test/support/scope.js';
import { openStore } from '../datastore/index.js';
import { isTwillError } from '../util/errors.js';
import { labEtcdRunning, startLabEtcd, stopLabEtcd } from './etcd.js';
import { isAlive, readPid, stopPid } from './processes.js';

const scope = new TestScope();

test('a second start of the lab etcd is refused; stop then really stops it; a restart keeps its data', async (t) => {
  t.after(() => scope.cleanup());
  const dir = join(await scope.tmpdir('twill-labetcd-'), 'etcd');
  const first = await startLabEtcd(dir);
  scope.defer(() => stopLabEtcd(dir));
  scope.defer(() => stopPid(first.pid)); // by pid too: with the bug, the pid file names another
  const store = await openStore(`etcd:${first.clientUrl}`);
  try {
    await store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kept' } });
  } finally {
    await store.close();
  }
  await assert.rejects(startLabEtcd(dir, first.clientUrl), (e: unknown) => isTwillError(e, 'EXISTS') && /already running \(pid \d+/.test(String(e)));
  assert.equal(await readPid(join(dir, 'etcd.pid')), first.pid, 'the pid file still names the running etcd');
  await stopLabEtcd(dir);
  assert.ok(!isAlive(first.pid), 'stop stopped the etcd that was running');
  assert.ok(!(await labEtcdRunning(dir)));
  const again = await startLabEtcd(dir, first.clientUrl);
  const s2 = await openStore(`etcd:${again.clientUrl}`);
  try {
    assert.ok(await s2.get('Namespace', 'kept'), 'the restart kept the data');
  } finally {
    await s2.close();
  }
});

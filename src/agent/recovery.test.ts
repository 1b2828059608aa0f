// Tombstones (DELs the shim recorded while the agent was down) are removed only once their DEL
// finished: a failed one stays and is retried; an unreadable one is quarantined, loudly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '../util/log.js';
import { Problems } from './problems.js';
import { processTombstones, type RecoveryDeps } from './recovery.js';

test('a tombstone whose DEL fails is kept and retried; an unreadable one is quarantined', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rf-tomb-'));
  try {
    const tdir = join(dir, 'tombstones');
    await mkdir(tdir);
    await writeFile(join(tdir, 'c1_eth0.json'), JSON.stringify({ containerId: 'c1', ifname: 'eth0' }));
    await writeFile(join(tdir, 'c2_eth0.json'), '{"containerId":');
    let fail = true;
    const removed: string[] = [];
    const cni = { remove: (o: { containerId: string }) => (fail ? Promise.reject(new Error('netlink: device busy')) : (removed.push(o.containerId), Promise.resolve(undefined))) };
    const log = new Logger('test');
    const problems = new Problems(log);
    const d = { stateDir: join(dir, 'state'), socket: join(dir, 'agent.sock'), cni, log, problems } as unknown as RecoveryDeps;

    assert.deepEqual(await processTombstones(d), { done: 0, pending: 1 });
    assert.deepEqual(await readdir(tdir), ['c1_eth0.json'], 'the failed DEL keeps its tombstone');
    assert.ok(problems.has('tombstone:c1_eth0.json') && problems.has('tombstone:c2_eth0.json'));
    assert.equal((await readdir(join(dir, 'state', 'quarantine'))).length, 1);

    fail = false;
    assert.deepEqual(await processTombstones(d), { done: 1, pending: 0 });
    assert.deepEqual(removed, ['c1']);
    assert.deepEqual(await readdir(tdir), []);
    assert.ok(!problems.has('tombstone:c1_eth0.json'), 'the finished DEL clears its problem');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

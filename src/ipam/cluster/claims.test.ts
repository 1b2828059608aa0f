// Block claims against the in-memory datastore: races, the local cache, dead nodes' blocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBackend, MemoryStore } from '../../datastore/index.js';
import { Logger } from '../../util/log.js';
import { BlockClaims } from './claims.js';

const pool = { pool: '10.244.0.0/24', blockPrefix: 26 }; // four blocks
const log = new Logger('test');

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'twill-claims-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('nodes racing for blocks never share one; a full pool says so', () =>
  withDir(async (dir) => {
    const backend = new MemoryBackend();
    const nodes = ['a', 'b', 'c', 'd', 'e'].map((n) => new BlockClaims(new MemoryStore(backend), n, pool, join(dir, `${n}.json`), log));
    const got = await Promise.all(nodes.map(async (c) => {
      await c.init();
      return c.claimMore();
    }));
    const claimed = got.filter((b): b is string => b !== undefined);
    assert.equal(claimed.length, 4, 'four blocks, five nodes: one node gets none');
    assert.equal(new Set(claimed).size, 4);
  }));

test('blocks survive a restart through the local cache, even with the datastore down', () =>
  withDir(async (dir) => {
    const backend = new MemoryBackend();
    const a = new BlockClaims(new MemoryStore(backend), 'a', pool, join(dir, 'a.json'), log);
    await a.init();
    await a.ensureOne();
    const held = a.current();
    backend.stop();
    const again = new BlockClaims(new MemoryStore(backend), 'a', pool, join(dir, 'a.json'), log);
    await again.init();
    assert.deepEqual(again.current(), held);
    assert.equal(await again.claimMore(), undefined, 'no new block without the datastore');
  }));

test('an unreadable block cache is quarantined and reported, never silently taken as "no blocks"', () =>
  withDir(async (dir) => {
    const backend = new MemoryBackend();
    const a = new BlockClaims(new MemoryStore(backend), 'a', pool, join(dir, 'a.json'), log);
    await a.init();
    await a.ensureOne();
    const held = a.current();
    for (const corrupt of ['{"node":"a","blo', '']) {
      await writeFile(join(dir, 'a.json'), corrupt);
      backend.stop();
      const down = new BlockClaims(new MemoryStore(backend), 'a', pool, join(dir, 'a.json'), log);
      await down.init();
      assert.match(down.cacheError ?? '', /unusable \(cannot parse it.*quarantined to .*quarantine\/blocks-a\.json\./, 'the fault is reported');
      assert.deepEqual(down.current(), [], 'no block is guessed while the datastore is down');
      backend.start();
      const up = new BlockClaims(new MemoryStore(backend), 'a', pool, join(dir, 'a.json'), log);
      await up.init();
      assert.deepEqual(up.current(), held, 'the datastore gives the blocks back');
      assert.equal(up.cacheError, undefined);
    }
    assert.equal((await readdir(join(dir, 'quarantine'))).length, 2);
  }));

test('a block taken over by another node is never used again; a lost record is claimed back', () =>
  withDir(async (dir) => {
    const backend = new MemoryBackend();
    const store = new MemoryStore(backend);
    const a = new BlockClaims(store, 'a', pool, join(dir, 'a.json'), log);
    await a.init();
    const first = (await a.claimMore())!;
    const second = (await a.claimMore())!;
    // Someone deleted both records; another node then took the first block.
    for (const b of (await store.list('IPAMBlock')).items) await store.delete('IPAMBlock', b.metadata.name);
    assert.equal((await store.list('IPAMBlock')).items.length, 0);
    await store.create({ apiVersion: 'twill.dev/v1alpha1', kind: 'IPAMBlock', metadata: { name: first.replace('/', '-') }, spec: { cidr: first, node: 'b', claimedAt: '' } });
    await a.resync();
    assert.deepEqual(a.current(), [second], 'the taken block is not used; the free one is claimed back');
    assert.deepEqual(a.lostBlocks(), [first]);
  }));

test('dead nodes\' blocks return to the pool only after the grace period', () =>
  withDir(async (dir) => {
    const store = new MemoryStore(new MemoryBackend());
    const dead = new BlockClaims(store, 'dead', pool, join(dir, 'dead.json'), log);
    await dead.init();
    const b = (await dead.claimMore())!;
    const live = new BlockClaims(store, 'live', pool, join(dir, 'live.json'), log);
    const gone = new Map([['dead', 1_000]]);
    assert.deepEqual(await live.reclaimDead(gone, 10_000, 5_000), [], 'within the grace period');
    assert.deepEqual(await live.reclaimDead(gone, 10_000, 11_000), [b]);
    assert.equal((await store.list('IPAMBlock')).items.length, 0);
  }));

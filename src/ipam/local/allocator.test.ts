import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalIpam, ownerKey } from './allocator.js';
import { staticBlocks } from './index.js';
import { isTwillError } from '../../util/errors.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'twill-ipam-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const owner = (i: number) => ({ containerId: `c${i}`, ifname: 'eth0' });

test('allocates distinct addresses, skips the reserved first address, is idempotent per owner', () =>
  withDir(async (dir) => {
    const ipam = new LocalIpam(dir, staticBlocks(['10.244.1.0/29']));
    await ipam.init();
    const got = [];
    for (let i = 0; i < 7; i++) got.push(await ipam.allocate(owner(i)));
    assert.deepEqual(got, ['10.244.1.1', '10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.1.5', '10.244.1.6', '10.244.1.7']);
    assert.equal(await ipam.allocate(owner(3)), '10.244.1.4', 'same owner, same address');
    await assert.rejects(ipam.allocate(owner(99)), (e) => isTwillError(e, 'IPAM_EXHAUSTED'));
    assert.equal((await readdir(dir)).length, 7);
  }));

test('concurrent allocations never collide', () =>
  withDir(async (dir) => {
    const ipam = new LocalIpam(dir, staticBlocks(['10.244.0.0/24']));
    await ipam.init();
    const ips = await Promise.all(Array.from({ length: 200 }, (_, i) => ipam.allocate(owner(i))));
    assert.equal(new Set(ips).size, 200);
  }));

test('release frees the address; next-fit does not reuse it at once', () =>
  withDir(async (dir) => {
    const ipam = new LocalIpam(dir, staticBlocks(['10.244.1.0/28']));
    await ipam.init();
    const a = await ipam.allocate(owner(1));
    await ipam.allocate(owner(2));
    assert.equal(await ipam.release(owner(1)), a);
    assert.equal(await ipam.release(owner(1)), undefined, 'release is idempotent');
    assert.notEqual(await ipam.allocate(owner(3)), a);
  }));

test('state survives a restart; torn and unowned records are reclaimed by gc', () =>
  withDir(async (dir) => {
    const ipam = new LocalIpam(dir, staticBlocks(['10.244.1.0/28']));
    await ipam.init();
    await ipam.allocate(owner(1));
    await ipam.allocate(owner(2));
    await writeFile(join(dir, '10.244.1.9'), '{"ip":"10.24'); // crash mid-write
    const again = new LocalIpam(dir, staticBlocks(['10.244.1.0/28']));
    await again.init();
    assert.equal(again.lookup(owner(2)), '10.244.1.2');
    assert.notEqual(await again.allocate(owner(3)), '10.244.1.9', 'a torn record still reserves its address');
    const freed = await again.gc(new Set([ownerKey(owner(1))]));
    assert.deepEqual(freed.map((r) => r.ip).sort(), ['10.244.1.2', '10.244.1.3', '10.244.1.9']);
    assert.deepEqual((await readdir(dir)).sort(), ['10.244.1.1']);
  }));

test('a record created by another process is respected', () =>
  withDir(async (dir) => {
    const ipam = new LocalIpam(dir, staticBlocks(['10.244.1.0/30']));
    await ipam.init();
    await writeFile(join(dir, '10.244.1.1'), JSON.stringify({ ip: '10.244.1.1', containerId: 'other', ifname: 'eth0', allocatedAt: '' }));
    assert.equal(await ipam.allocate(owner(1)), '10.244.1.2');
  }));

test('claims another block when full', () =>
  withDir(async (dir) => {
    const blocks = ['10.244.0.0/30'];
    const ipam = new LocalIpam(dir, {
      current: () => blocks,
      claimMore: () => {
        blocks.push('10.244.0.4/30');
        return Promise.resolve('10.244.0.4/30');
      },
    });
    await ipam.init();
    const ips = [];
    for (let i = 0; i < 6; i++) ips.push(await ipam.allocate(owner(i)));
    assert.deepEqual(ips, ['10.244.0.1', '10.244.0.2', '10.244.0.3', '10.244.0.5', '10.244.0.6', '10.244.0.7']);
  }));

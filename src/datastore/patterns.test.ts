import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TwillError } from '../util/errors.js';
import { eventually, node, rejectsWith } from './conformance-support.js';
import { MemoryBackend } from './memory/backend.js';
import { ManualClock } from './memory/clock.js';
import { MemoryStore } from './memory/store.js';
import { LeasedObjects, readModifyWrite } from './patterns.js';

describe('readModifyWrite', () => {
  it('loses no update when many writers race', async () => {
    const backend = new MemoryBackend({ clock: new ManualClock() });
    const clients = [new MemoryStore(backend), new MemoryStore(backend), new MemoryStore(backend)];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        readModifyWrite(clients[i % 3]!, 'TwillNode', 'n1', (cur) => {
          const n = cur ?? node('n1');
          return { ...n, spec: { ...n.spec, blocks: [...n.spec.blocks, `b${i}`] } };
        }, { attempts: 50 }),
      ),
    );
    const stored = await clients[0]!.get('TwillNode', 'n1');
    assert.deepEqual([...stored!.spec.blocks].sort(), Array.from({ length: 12 }, (_, i) => `b${i}`).sort());
  });

  it('leaves the object alone when fn returns undefined, and gives up after `attempts` conflicts', async () => {
    const s = new MemoryStore(new MemoryBackend({ clock: new ManualClock() }));
    const created = await s.create(node('n1'));
    assert.deepEqual(await readModifyWrite(s, 'TwillNode', 'n1', () => undefined), created);
    let calls = 0;
    const conflicted = Object.assign(Object.create(s) as MemoryStore, {
      update: async () => {
        throw new TwillError('CONFLICT', 'always');
      },
    });
    await rejectsWith(readModifyWrite(conflicted, 'TwillNode', 'n1', (cur) => (calls++, cur), { attempts: 3 }), 'CONFLICT');
    assert.equal(calls, 3);
  });
});

describe('LeasedObjects', () => {
  it('re-grants after a loss and writes its objects again under the new lease', async () => {
    const clock = new ManualClock();
    const backend = new MemoryBackend({ clock });
    const s = new MemoryStore(backend);
    const events: string[] = [];
    const held = await LeasedObjects.open(s, { ttlSeconds: 5, retryMs: 10, onLost: () => events.push('lost'), onRegained: () => events.push('regained') });
    await held.put(node('me'));
    const first = held.leaseId;
    backend.stop();
    clock.advance(6_000);
    assert.deepEqual(events, ['lost']);
    await rejectsWith(held.put(node('me', ['10.244.0.0/26'])), 'TRY_AGAIN');
    backend.start();
    await eventually(() => events.length === 2, 5_000, () => `re-grant, have ${events}`);
    assert.notEqual(held.leaseId, first);
    assert.deepEqual((await s.get('TwillNode', 'me'))?.spec.blocks, ['10.244.0.0/26'], 'the latest put was written under the new lease');
    clock.advance(12_000); // the old lease expires; the object now belongs to the new one
    assert.ok(await s.get('TwillNode', 'me'));
    await held.close();
    assert.equal(await s.get('TwillNode', 'me'), undefined, 'close() revokes');
    await rejectsWith(held.put(node('me')), 'DATASTORE');
    await s.close();
  });
});

// The lease cases of the shared Store suite (see conformance.ts).
import assert from 'node:assert/strict';
import { isTwillError } from '../util/errors.js';
import { eventually, node, Recorder, retrying, type Case } from './conformance-support.js';

export const LEASE_CASES: Record<string, Case> = {
  'lease expiry deletes attached objects, in one revision, and watchers see DELETED': async (b, connect) => {
    const [s, watcher] = [await connect(), await connect()];
    const lease = await s.grantLease(b.ttlSeconds);
    let lost = 0;
    lease.onLost(() => lost++);
    await s.create(node('a'), { lease });
    await s.put(node('b'), { lease });
    await s.create(node('c'));
    const rec = new Recorder(watcher, 'TwillNode', (await watcher.list('TwillNode')).revision);
    lease.release();
    await b.elapse(b.ttlSeconds * 1000);
    assert.deepEqual((await rec.waitFor(2, 5_000)).sort(), ['DELETED a', 'DELETED b']);
    if (b.atomicLeaseExpiry !== false) assert.equal(rec.events[0]!.revision, rec.events[1]!.revision);
    assert.equal(await s.get('TwillNode', 'a'), undefined);
    assert.ok(await s.get('TwillNode', 'c'), 'objects without the lease stay');
    assert.equal(lost, 0, 'release() is not a loss');
    await assert.rejects(s.create(node('d'), { lease }), (e: unknown) => isTwillError(e));
    rec.stop();
  },

  'keep-alive keeps attached objects; revoke deletes them at once': async (b, connect) => {
    const s = await connect();
    const lease = await s.grantLease(b.ttlSeconds);
    let lost = 0;
    lease.onLost(() => lost++);
    await s.create(node('kept'), { lease });
    const rec = new Recorder(s, 'TwillNode', (await s.list('TwillNode')).revision);
    await b.elapse(b.ttlSeconds * 2500);
    assert.ok(await s.get('TwillNode', 'kept'), 'kept alive past 2.5 TTLs');
    assert.equal(rec.events.length, 0);
    await lease.revoke();
    assert.equal(await s.get('TwillNode', 'kept'), undefined);
    assert.deepEqual(await rec.waitFor(1), ['DELETED kept']);
    await lease.revoke(); // idempotent
    assert.equal(lost, 0, 'revoke() is not a loss');
    await assert.rejects(s.put(node('again'), { lease }), (e: unknown) => isTwillError(e));
    rec.stop();
  },

  'update and put keep the lease attachment unless given another lease': async (b, connect) => {
    const s = await connect();
    const [l1, l2] = [await s.grantLease(b.ttlSeconds), await s.grantLease(b.ttlSeconds)];
    const a = await s.create(node('a'), { lease: l1 });
    await s.update({ ...a, spec: { ...a.spec, blocks: ['10.244.4.0/26'] } });
    await s.put(node('a', ['10.244.5.0/26']));
    await s.create(node('b'));
    await s.put(node('b', ['10.244.4.0/26']), { lease: l1 });
    await s.create(node('c'), { lease: l1 });
    await s.put(node('c', ['10.244.4.0/26']), { lease: l2 });
    await l1.revoke();
    assert.equal(await s.get('TwillNode', 'a'), undefined, 'a stayed attached through update and put');
    assert.equal(await s.get('TwillNode', 'b'), undefined, 'put attached b');
    assert.ok(await s.get('TwillNode', 'c'), 'c moved to the second lease');
    await l2.revoke();
    assert.equal(await s.get('TwillNode', 'c'), undefined);
  },

  'a lease that cannot be renewed for its TTL is lost: onLost once, then its objects expire': async (b, connect) => {
    const s = await connect();
    const lease = await s.grantLease(b.ttlSeconds);
    let lost = 0;
    lease.onLost(() => lost++);
    await s.create(node('mine'), { lease });
    await b.outage(b.ttlSeconds * 1000 + 1000);
    await eventually(() => lost > 0, 5_000, () => 'onLost');
    let late = 0;
    lease.onLost(() => late++);
    await retrying(() => s.ping().then((ok) => assert.ok(ok)));
    await b.elapse(b.ttlSeconds * 1000);
    await eventually(() => late === 1, 1_000, () => 'a late onLost registration to run');
    // No keep-alive after the loss: the server expires the lease on its own.
    const gone = async (): Promise<void> => assert.equal(await s.get('TwillNode', 'mine'), undefined);
    await retrying(gone, 5_000);
    assert.equal(lost, 1);
  },

  'a lease revoked elsewhere is lost: onLost, and writes with it fail': async (b, connect) => {
    const s = await connect();
    const lease = await s.grantLease(b.ttlSeconds);
    let lost = 0;
    lease.onLost(() => lost++);
    await s.create(node('a'), { lease });
    await b.revokeElsewhere(lease.id);
    assert.equal(await s.get('TwillNode', 'a'), undefined);
    await b.elapse(b.ttlSeconds * 500);
    await eventually(() => lost === 1, 5_000, () => 'onLost after the next keep-alive');
    await assert.rejects(s.put(node('a'), { lease }), (e: unknown) => isTwillError(e));
    assert.equal(lost, 1);
  },

};

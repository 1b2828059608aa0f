// The one test suite every Store implementation passes (hono's shared router suite idea). A
// test file calls runStoreConformance() with a factory for its backend; every case opens a
// fresh, empty key space and several clients over it, like several agents sharing a datastore.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTwillError } from '../util/errors.js';
import { LEASE_CASES } from './conformance-lease.js';
import { SERVICE_CASES } from './conformance-services.js';
import { assertIncreasing, block, eventually, node, pod, Recorder, rejectsWith, retrying, rv, type Case, type ConformanceBackend } from './conformance-support.js';
import type { Store } from './store.js';

export type { ConformanceBackend } from './conformance-support.js';

/** Registers the suite under `label`; `open` is called once per case. */
export function runStoreConformance(label: string, open: () => Promise<ConformanceBackend>, opts: { timeoutMs?: number } = {}): void {
  const timeout = opts.timeoutMs ?? 30_000;
  const run = (name: string, body: Case): void => {
    it(name, { timeout }, async () => {
      const backend = await open();
      const clients: Store[] = [];
      try {
        await body(backend, async () => {
          const s = await backend.connect();
          clients.push(s);
          return s;
        });
      } finally {
        for (const c of clients) await c.close();
        await backend.close();
      }
    });
  };

  describe(`Store conformance: ${label}`, () => {
    for (const [name, body] of Object.entries({ ...CASES, ...SERVICE_CASES, ...LEASE_CASES })) run(name, body);
  });
}

const CASES: Record<string, Case> = {
  'create is create-if-absent; get returns what was stored': async (_b, connect) => {
    const s = await connect();
    const created = await s.create(node('n1', ['10.244.0.0/26']));
    assert.deepEqual({ ...created, metadata: { ...created.metadata, resourceVersion: undefined } }, {
      ...node('n1', ['10.244.0.0/26']),
      metadata: { name: 'n1', resourceVersion: undefined },
    });
    assert.deepEqual(await s.get('TwillNode', 'n1'), created);
    await rejectsWith(s.create(node('n1')), 'EXISTS');
    assert.deepEqual((await s.get('TwillNode', 'n1'))?.spec.blocks, ['10.244.0.0/26'], 'the loser changed nothing');
    assert.equal(await s.get('TwillNode', 'missing'), undefined);
    // A stale resourceVersion on the input is ignored by create.
    const p = await s.create({ ...pod('default', 'web'), metadata: { namespace: 'default', name: 'web', resourceVersion: '999999' } });
    assert.notEqual(p.metadata.resourceVersion, '999999');
    assert.deepEqual(await s.get('Pod', 'default/web'), p);
  },

  'list filters by kind and namespace, at a revision covering every item': async (_b, connect) => {
    const s = await connect();
    for (const [ns, name] of [['a', 'p1'], ['a', 'p2'], ['ab', 'p3'], ['b', 'p1']] as const) await s.create(pod(ns, name));
    const n = await s.create(node('n1'));
    const all = await s.list('Pod');
    assert.deepEqual(all.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort(), ['a/p1', 'a/p2', 'ab/p3', 'b/p1']);
    const a = await s.list('Pod', { namespace: 'a' });
    assert.deepEqual(a.items.map((o) => o.metadata.name).sort(), ['p1', 'p2'], 'namespace "a" must not match "ab"');
    assert.deepEqual((await s.list('Pod', { namespace: 'none' })).items, []);
    const nodes = await s.list('TwillNode');
    assert.deepEqual(nodes.items, [n]);
    for (const o of all.items) assert.ok(rv(o) <= BigInt(all.revision));
    assert.ok(BigInt(nodes.revision) >= rv(n));
  },

  'update is compare-and-swap on resourceVersion': async (_b, connect) => {
    const s = await connect();
    const v1 = await s.create(block('b1', 'n1'));
    const v2 = await s.update({ ...v1, spec: { ...v1.spec, node: 'n2' } });
    assert.ok(rv(v2) > rv(v1));
    assert.equal(v2.spec.node, 'n2');
    assert.deepEqual(await s.get('IPAMBlock', 'b1'), v2);
    await rejectsWith(s.update({ ...v1, spec: { ...v1.spec, node: 'n3' } }), 'CONFLICT');
    assert.equal((await s.get('IPAMBlock', 'b1'))?.spec.node, 'n2', 'a stale update changes nothing');
    await rejectsWith(s.update({ ...block('b1', 'n4') }), 'VALIDATION');
    await rejectsWith(s.update({ ...block('gone', 'n1'), metadata: { name: 'gone', resourceVersion: v2.metadata.resourceVersion! } }), 'NOT_FOUND');
  },

  'delete: unconditional, or only if unchanged; false when already gone': async (_b, connect) => {
    const s = await connect();
    const v1 = await s.create(block('b1', 'n1'));
    const v2 = await s.update({ ...v1, spec: { ...v1.spec, node: 'n2' } });
    await rejectsWith(s.delete('IPAMBlock', 'b1', { resourceVersion: v1.metadata.resourceVersion! }), 'CONFLICT');
    assert.ok(await s.get('IPAMBlock', 'b1'), 'a stale delete deletes nothing');
    assert.equal(await s.delete('IPAMBlock', 'b1', { resourceVersion: v2.metadata.resourceVersion! }), true);
    assert.equal(await s.get('IPAMBlock', 'b1'), undefined);
    assert.equal(await s.delete('IPAMBlock', 'b1'), false);
    assert.equal(await s.delete('IPAMBlock', 'b1', { resourceVersion: v2.metadata.resourceVersion! }), false);
    await s.create(pod('ns', 'p'));
    assert.equal(await s.delete('Pod', 'ns/p'), true);
    assert.equal(await s.delete('Pod', 'ns/p'), false);
  },

  'put creates or overwrites without a revision check': async (_b, connect) => {
    const s = await connect();
    const p1 = await s.put(node('n1', ['10.244.1.0/26']));
    const p2 = await s.put({ ...node('n1', ['10.244.2.0/26']), metadata: { name: 'n1', resourceVersion: '1' } });
    assert.ok(rv(p2) > rv(p1));
    assert.deepEqual(await s.get('TwillNode', 'n1'), p2);
    assert.deepEqual(p2.spec.blocks, ['10.244.2.0/26']);
  },

  'bad keys and objects are refused before they reach the store': async (_b, connect) => {
    const s = await connect();
    await rejectsWith(s.create({ ...pod('x', 'p'), metadata: { name: 'p' } } as never), 'VALIDATION');
    await rejectsWith(s.create({ ...node('n'), metadata: { name: 'n', namespace: 'x' } }), 'VALIDATION');
    await rejectsWith(s.create(node('Bad/Name')), 'VALIDATION');
    await rejectsWith(s.get('Pod', 'no-namespace'), 'VALIDATION');
    await rejectsWith(s.get('TwillNode', 'a/b'), 'VALIDATION');
    await rejectsWith(s.list('TwillNode', { namespace: 'x' }), 'VALIDATION');
    await rejectsWith(s.grantLease(0), 'VALIDATION');
  },

  'concurrent creates of one key: exactly one of 20 wins; CAS races likewise': async (_b, connect) => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => connect()));
    const contenders = Array.from({ length: 20 }, (_, i) => clients[i % clients.length]!.create(block('b1', `n${i}`)));
    const results = await Promise.allSettled(contenders);
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    assert.equal(won.length, 1, 'exactly one create wins');
    for (const r of results) if (r.status === 'rejected') assert.ok(isTwillError(r.reason, 'EXISTS'), String(r.reason));
    const stored = await clients[0]!.get('IPAMBlock', 'b1');
    assert.deepEqual(stored, won[0]);

    const updates = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => clients[i % clients.length]!.update({ ...stored!, spec: { ...stored!.spec, node: `m${i}` } })),
    );
    const updated = updates.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    assert.equal(updated.length, 1, 'exactly one CAS update wins');
    for (const r of updates) if (r.status === 'rejected') assert.ok(isTwillError(r.reason, 'CONFLICT'), String(r.reason));
    assert.deepEqual(await clients[1]!.get('IPAMBlock', 'b1'), updated[0]);
  },

  'watch delivers every change after its revision, in order, live or replayed': async (_b, connect) => {
    const s = await connect();
    const { revision } = await s.list('TwillNode');
    const live = new Recorder(s, 'TwillNode', revision);
    await eventually(() => live.statuses.includes(true), 5_000, () => 'the live watch to connect');
    const a = await s.create(node('a'));
    const a2 = await s.update({ ...a, spec: { ...a.spec, blocks: ['10.244.3.0/26'] } });
    await s.create(pod('ns', 'ignored'));
    const b = await s.create(node('b'));
    await s.delete('TwillNode', 'a');
    const expected = ['ADDED a', 'MODIFIED a', 'ADDED b', 'DELETED a'];
    const replay = new Recorder(s, 'TwillNode', revision);
    assert.deepEqual(await live.waitFor(4), expected);
    assert.deepEqual(await replay.waitFor(4), expected);
    for (const r of [live, replay]) {
      assertIncreasing(r.revisions());
      assert.deepEqual(r.revisions().slice(0, 3), [rv(a), rv(a2), rv(b)]);
      const del = r.events[3]!;
      assert.ok(del.type === 'DELETED' && del.object.spec.blocks[0] === '10.244.3.0/26', 'DELETED carries the last stored object');
    }
    // A watch from a later revision starts there; a stopped watch hears nothing more.
    const tail = new Recorder(s, 'TwillNode', b.metadata.resourceVersion!);
    assert.deepEqual(await tail.waitFor(1), ['DELETED a']);
    live.stop();
    replay.stop();
    tail.stop();
    await s.create(node('c'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(live.events.length, 4);
  },

  'no gap between list and watch while another client writes': async (_b, connect) => {
    const [reader, writer] = [await connect(), await connect()];
    const names = Array.from({ length: 40 }, (_, i) => `p${i}`);
    let written = 0;
    const writing = (async () => {
      for (const n of names) {
        await writer.create(pod('ns', n));
        written++;
      }
    })();
    await eventually(() => written >= 10, 10_000, () => '10 writes');
    const listed = await reader.list('Pod', { namespace: 'ns' });
    const rec = new Recorder(reader, 'Pod', listed.revision);
    await writing;
    const seen = listed.items.map((o) => o.metadata.name);
    await eventually(() => seen.length + rec.events.length >= names.length, 10_000, () => `all 40 pods, listed ${seen.length}, events ${rec.summary()}`);
    for (const ev of rec.events) {
      assert.equal(ev.type, 'ADDED');
      assert.ok(BigInt(ev.revision) > BigInt(listed.revision));
      if (ev.type === 'ADDED') seen.push(ev.object.metadata.name);
    }
    assert.deepEqual(seen.sort(), [...names].sort(), 'every pod exactly once, from the list or the watch');
    rec.stop();
  },

  'watch resumes after the server goes away and comes back': async (b, connect) => {
    const [s, other] = [await connect(), await connect()];
    const rec = new Recorder(s, 'TwillNode', (await s.list('TwillNode')).revision);
    await s.create(node('n1'));
    await rec.waitFor(1);
    await b.outage(300);
    await retrying(() => s.ping().then((ok) => assert.ok(ok, 'store reachable again')));
    await s.create(node('n2'));
    const n1 = await other.get('TwillNode', 'n1');
    await other.update({ ...n1!, spec: { ...n1!.spec, blocks: ['10.244.2.0/26'] } });
    await other.create(node('n3'));
    await s.delete('TwillNode', 'n2');
    assert.deepEqual(await rec.waitFor(5, 15_000), ['ADDED n1', 'ADDED n2', 'MODIFIED n1', 'ADDED n3', 'DELETED n2']);
    assertIncreasing(rec.revisions());
    const down = rec.statuses.indexOf(false);
    assert.ok(rec.statuses[0] === true && down > 0 && rec.statuses.slice(down).includes(true), `status went up, down, up: ${rec.statuses}`);
    rec.stop();
  },

  'a watch from a compacted revision gets RESYNC, then live events': async (b, connect) => {
    const s = await connect();
    const from = (await s.list('TwillNode')).revision;
    const x = await s.create(node('x'));
    await s.update({ ...x, spec: { ...x.spec, blocks: ['10.244.4.0/26'] } });
    const y = await s.create(node('y'));
    await s.create(node('gone'));
    await s.delete('TwillNode', 'gone');
    await b.compact();
    const rec = new Recorder(s, 'TwillNode', from);
    await rec.waitFor(1);
    const first = rec.events[0]!;
    assert.equal(first.type, 'RESYNC');
    assert.ok(first.type === 'RESYNC');
    assert.deepEqual(first.items.map((o) => o.metadata.name).sort(), ['x', 'y']);
    assert.deepEqual(first.items.find((o) => o.metadata.name === 'x')?.spec.blocks, ['10.244.4.0/26']);
    assert.ok(BigInt(first.revision) > rv(y));
    await s.create(node('z'));
    assert.deepEqual(await rec.waitFor(2), ['RESYNC x,y', 'ADDED z']);
    assertIncreasing(rec.revisions());
    rec.stop();
  },

  'ping answers true for a live store': async (_b, connect) => {
    const s = await connect();
    assert.equal(await s.ping(), true);
  },
};

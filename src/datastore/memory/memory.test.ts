import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runStoreConformance } from '../conformance.js';
import { node, Recorder, rejectsWith } from '../conformance-support.js';
import { MemoryBackend } from './backend.js';
import { ManualClock } from './clock.js';
import { MemoryStore } from './store.js';
import type { EndpointSlice, Service } from '../../model/types.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

runStoreConformance('memory', async () => {
  const clock = new ManualClock(1_000_000);
  const backend = new MemoryBackend({ clock });
  return {
    ttlSeconds: 5,
    connect: async () => new MemoryStore(backend),
    elapse: async (ms) => {
      clock.advance(ms);
      await tick();
    },
    compact: async () => backend.compact(),
    outage: async (ms) => {
      backend.stop();
      await tick();
      clock.advance(ms);
      backend.start();
      await tick();
    },
    revokeElsewhere: async (id) => backend.revokeLease(id),
    close: async () => {},
  };
});

describe('memory store specifics', () => {
  it('bounded history: a watcher that falls too far behind gets RESYNC', async () => {
    const backend = new MemoryBackend({ clock: new ManualClock(), historyLimit: 3 });
    const s = new MemoryStore(backend);
    const from = (await s.list('TwillNode')).revision;
    for (const n of ['a', 'b', 'c']) await s.create(node(n));
    const ok = new Recorder(s, 'TwillNode', from);
    assert.deepEqual(await ok.waitFor(3), ['ADDED a', 'ADDED b', 'ADDED c'], 'within the limit: replay');
    await s.create(node('d'));
    const late = new Recorder(s, 'TwillNode', from);
    assert.deepEqual(await late.waitFor(1), ['RESYNC a,b,c,d']);
    assert.deepEqual(await ok.waitFor(4), ['ADDED a', 'ADDED b', 'ADDED c', 'ADDED d'], 'a caught-up watcher is unaffected');
    ok.stop();
    late.stop();
    await s.close();
  });

  it('lease time runs on the injected clock only', async () => {
    const clock = new ManualClock();
    const backend = new MemoryBackend({ clock });
    const s = new MemoryStore(backend);
    const lease = await s.grantLease(10);
    await s.create(node('a'), { lease });
    lease.release();
    await new Promise((r) => setTimeout(r, 50));
    clock.advance(9_999);
    assert.ok(await s.get('TwillNode', 'a'), 'not expired before the TTL');
    clock.advance(1);
    assert.equal(await s.get('TwillNode', 'a'), undefined, 'expired exactly at the TTL');
    await s.close();
    assert.equal(clock.pendingTimers, 0, 'no timers left behind');
  });

  it('a closed client refuses calls; other clients carry on', async () => {
    const backend = new MemoryBackend({ clock: new ManualClock() });
    const [a, b] = [new MemoryStore(backend), new MemoryStore(backend)];
    const lease = await a.grantLease(5);
    await a.create(node('x'), { lease });
    await a.close();
    await rejectsWith(a.get('TwillNode', 'x'), 'DATASTORE');
    assert.equal(await a.ping(), false);
    assert.ok(await b.get('TwillNode', 'x'), 'close() releases leases, it does not revoke them');
    await rejectsWith(b.create(node('y'), { lease }), 'VALIDATION');
    await b.close();
  });

  it('a down backend fails every call with DATASTORE', async () => {
    const backend = new MemoryBackend({ clock: new ManualClock() });
    const s = new MemoryStore(backend);
    backend.stop();
    await rejectsWith(s.list('Pod'), 'DATASTORE');
    await rejectsWith(s.create(node('a')), 'DATASTORE');
    assert.equal(await s.ping(), false);
    backend.start();
    assert.equal(await s.ping(), true);
    await s.close();
  });

  it('holds Services and EndpointSlices, namespaced', async () => {
    const s = new MemoryStore(new MemoryBackend({ clock: new ManualClock() }));
    const svc: Service = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'a', name: 'web' }, spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] } };
    const es: EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'a', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.5'], conditions: { ready: true } }],
    };
    await s.create(svc);
    await s.create(es);
    assert.equal((await s.get('Service', 'a/web'))?.spec.clusterIP, '10.96.0.10');
    assert.deepEqual((await s.list('EndpointSlice', { namespace: 'a' })).items.map((o) => o.metadata.name), ['web-1']);
    await rejectsWith(s.create({ ...svc, metadata: { name: 'x' } } as never), 'VALIDATION');
    await s.close();
  });
});

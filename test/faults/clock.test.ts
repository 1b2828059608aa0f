// Fault injection: the wall clock jumps by +1 h and -1 h (an NTP step, a wrong RTC at boot),
// injected in-process by replacing Date.now (the host clock is never touched). Grace periods run
// on a monotonic clock, so a peer gone for a second keeps its blocks; the memory store's leases
// run on their own injected clock (src/datastore/memory), and etcd's TTLs on the server's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LeasedObjects, MemoryBackend, MemoryStore, openStore } from '../../src/datastore/index.js';
import { startEtcd } from '../../src/datastore/etcd/server.js';
import { BlockClaims } from '../../src/ipam/cluster/claims.js';
import { Logger, setLogSink } from '../../src/util/log.js';
import { ClusterMember } from '../../src/agent/cluster/member.js';
import { Problems } from '../../src/agent/problems.js';
import { ClockWatch } from '../../src/agent/clock-watch.js';
import { recordRuns, type FaultRun } from './support.js';

const spec = { pool: '10.244.0.0/16', blockPrefix: 26, backend: 'vxlan' as const, vxlan: { vni: 1, port: 8472, directRouting: false }, natOutgoing: true, blockGraceSeconds: 60 };

test('a wall-clock jump of +1 h does not free a peer\'s blocks before its grace period', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rf-clock-'));
  const backend = new MemoryBackend();
  const store = new MemoryStore(backend);
  const log = new Logger('test');
  const problems = new Problems(log);
  const watch = new ClockWatch(problems);
  const m = new ClusterMember({
    store, nodeName: 'node-1', stateDir: dir, bootstrap: spec, leaseTtlSeconds: 10, agentVersion: 't', log, problems,
    onChange: () => undefined, podMTU: () => 1450,
  });
  const realNow = Date.now;
  try {
    Object.assign(m, { config: spec, underlay: { iface: 'eth0', ip: '192.0.2.10', cidr: '192.0.2.0/24', mtu: 1500 }, claims: new BlockClaims(store, 'node-1', spec, join(dir, 'blocks.json'), log), datastoreUp: true, peersKnown: true });
    await store.create({ apiVersion: 'twill.dev/v1alpha1', kind: 'IPAMBlock', metadata: { name: '10-244-1-0-26' }, spec: { cidr: '10.244.1.0/26', node: 'node-2', claimedAt: new Date().toISOString() } } as never);
    const tick = (): Promise<void> => (m as unknown as { reclaimTick(): Promise<void> }).reclaimTick();
    await tick(); // node-2 is not a peer: gone since now
    let prev = 0;
    for (const jump of [3_600_000, -3_600_000]) {
      Date.now = () => realNow() + jump;
      await tick();
      const kept = (await store.list('IPAMBlock')).items.length === 1;
      const seen = Math.abs(watch.check() - (jump - prev)) < 5000 && problems.has('clock-jump');
      prev = jump;
      recordRuns([{ fault: `wall clock jump ${jump > 0 ? '+' : '-'}1 h (grace periods)`, survived: kept, nothingLost: kept, visible: seen } satisfies FaultRun]);
      assert.ok(seen, 'the jump is reported (warn, twill status)');
      assert.ok(kept, `clock ${jump > 0 ? '+' : '-'}1 h: node-2's block is kept (grace ${spec.blockGraceSeconds} s)`);
    }
  } finally {
    Date.now = realNow;
    await m.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a wall-clock jump of ±1 h loses no etcd lease (the client measures keep-alives on a monotonic clock)', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rf-clock-etcd-'));
  const lines: string[] = [];
  setLogSink({ write: (l: string) => void lines.push(l) });
  const etcd = await startEtcd({ dataDir: join(dir, 'etcd'), clientUrls: ['http'] });
  const store = await openStore(`etcd:${etcd.endpoints[0]!}`);
  const realNow = Date.now;
  let lost = 0;
  const problems = new Problems(new Logger('test'));
  const watch = new ClockWatch(problems);
  let prev = 0;
  try {
    const leased = await LeasedObjects.open(store, { ttlSeconds: 3, onLost: () => lost++, onRegained: () => undefined });
    await leased.put({ apiVersion: 'twill.dev/v1alpha1', kind: 'TwillNode', metadata: { name: 'rf-clock' }, spec: { underlayIP: '192.0.2.1', underlayCIDR: '192.0.2.0/24', backend: 'vxlan', blocks: [] } } as never);
    for (const jump of [3_600_000, -3_600_000]) {
      Date.now = () => realNow() + jump;
      await new Promise((res) => setTimeout(res, 4000)); // more than the TTL: keep-alives went on meanwhile
      const kept = lost === 0 && (await store.get('TwillNode', 'rf-clock')) !== undefined;
      const seen = Math.abs(watch.check() - (jump - prev)) < 5000 && problems.has('clock-jump');
      prev = jump;
      recordRuns([{ fault: `wall clock jump ${jump > 0 ? '+' : '-'}1 h (etcd lease)`, survived: kept, nothingLost: kept, visible: seen, note: `lost ${lost} times` } satisfies FaultRun]);
      assert.ok(seen, 'the jump is reported (warn, twill status)');
      assert.ok(kept, `clock ${jump > 0 ? '+' : '-'}1 h: the lease and its object are kept (lost ${lost} times)`);
    }
    await leased.close({ revoke: true });
  } finally {
    Date.now = realNow;
    setLogSink(process.stderr);
    await store.close();
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

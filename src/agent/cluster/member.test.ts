// Re-registration of the node is never dropped: a datastore that refuses it is retried with
// backoff, every failure is logged and shown as a problem, and the problem clears once it works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBackend, MemoryStore } from '../../datastore/index.js';
import { BlockClaims } from '../../ipam/cluster/claims.js';
import { Logger, setLogSink } from '../../util/log.js';
import { ClusterMember } from './member.js';
import { Problems } from '../problems.js';

const spec = { pool: '10.244.0.0/16', blockPrefix: 26, backend: 'vxlan' as const, vxlan: { vni: 1, port: 8472, directRouting: false }, natOutgoing: true, blockGraceSeconds: 60 };

test('our TwillNode deleted while the datastore refuses writes: registered again once it accepts them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rf-cluster-'));
  const keepAlive = setInterval(() => undefined, 1000); // the retry timers are unref'd, as in the agent
  const lines: string[] = [];
  setLogSink({ write: (l) => void lines.push(l) });
  const backend = new MemoryBackend();
  const store = new MemoryStore(backend);
  const log = new Logger('test');
  const problems = new Problems(log);
  const m = new ClusterMember({
    store, nodeName: 'node-1', stateDir: dir, bootstrap: spec, leaseTtlSeconds: 10, agentVersion: 't', log, problems,
    onChange: () => undefined, podMTU: () => 1450,
  });
  try {
    Object.assign(m, { config: spec, underlay: { iface: 'eth0', ip: '192.0.2.10', cidr: '192.0.2.0/24', mtu: 1500 }, claims: new BlockClaims(store, 'node-1', spec, join(dir, 'blocks.json'), log) });
    backend.stop();
    // The watch tells us our own record is gone (its lease expired while we were cut off).
    (m as unknown as { onNodeEvent(n: unknown, deleted: boolean): void }).onNodeEvent({ metadata: { name: 'node-1' } }, true);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await store.get('TwillNode', 'node-1').catch(() => undefined), undefined);
    assert.ok(problems.has('registration'), 'the failure is an open problem');
    assert.ok(lines.filter((l) => / ERROR .*cannot register this node/.test(l)).length >= 2, `each failure logged at error:\n${lines.join('')}`);
    backend.start();
    await m.registrationSettled();
    assert.equal((await store.get('TwillNode', 'node-1'))?.spec.underlayIP, '192.0.2.10');
    assert.ok(!problems.has('registration'), 'the problem clears');
  } finally {
    clearInterval(keepAlive);
    setLogSink(process.stderr);
    await m.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the datastore lost its data: the configuration is written back and new block claims freeze for a while', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rf-cluster-'));
  const lines: string[] = [];
  setLogSink({ write: (l) => void lines.push(l) });
  const store = new MemoryStore(new MemoryBackend());
  const log = new Logger('test');
  const problems = new Problems(log);
  let now = 0;
  const m = new ClusterMember({
    store, nodeName: 'node-1', stateDir: dir, bootstrap: spec, leaseTtlSeconds: 10, agentVersion: 't', log, problems,
    onChange: () => undefined, podMTU: () => 1450, monotonicMs: () => now, resetFreezeMs: 30_000,
  });
  try {
    const claims = new BlockClaims(store, 'node-1', spec, join(dir, 'blocks.json'), log);
    claims.claimGate = () => m.claimsFrozen();
    Object.assign(m, { config: spec, underlay: { iface: 'eth0', ip: '192.0.2.10', cidr: '192.0.2.0/24', mtu: 1500 }, claims });
    const first = await claims.claimMore();
    assert.ok(first, 'a block before the loss');
    // Everything is gone (no ClusterConfig, no block, no node): the next registration finds out.
    for (const b of (await store.list('IPAMBlock')).items) await store.delete('IPAMBlock', b.metadata.name);
    m.registerInBackground('test: datastore connection restored');
    await m.registrationSettled();
    assert.ok(await store.get('ClusterConfig', 'default'), 'the configuration is written back');
    assert.deepEqual((await store.list('IPAMBlock')).items.map((b) => b.spec.cidr), [first], 'our block is written back (not a claim)');
    assert.ok(problems.has('claims-frozen') && m.claimsFrozen(), 'the freeze is shown');
    assert.equal(await claims.claimMore(), undefined, 'no new claim while frozen');
    assert.ok(lines.some((l) => / WARN .*not claiming a new block now/.test(l)), 'the refused claim is logged');
    now += 30_001;
    assert.equal(m.claimsFrozen(), undefined);
    assert.ok(await claims.claimMore(), 'claims work again after the window');
  } finally {
    setLogSink(process.stderr);
    await m.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

// Fault injection against the Kubernetes datastore, with a real kube-apiserver (the private one of
// src/datastore/kubernetes/testing/) and two agents' cluster members (registration, peers, block
// claims; their datapath is not in play here: no kernel is touched). Clients reach the apiserver
// through a loopback relay, so an outage is a cut. Faults: kube-apiserver down and back, a watch
// that resumes into 410 Gone after deletions it never saw, and Twill's objects (TwillNode,
// IPAMBlock) deleted by hand. Each run checks: nothing lost (every member's blocks agree between
// member, block cache and datastore, no block is held twice, both registrations are there and
// each member sees the other), visible (a warn line and a problem or the connection state in the
// member's status), and convergence once the fault is gone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { ClusterMember } from '../../src/agent/cluster/member.js';
import { Problems } from '../../src/agent/problems.js';
import { ClockWatch } from '../../src/agent/clock-watch.js';
import { KubernetesStore } from '../../src/datastore/kubernetes/store.js';
import { startControlPlane, type ControlPlane } from '../../src/datastore/kubernetes/testing/control-plane.js';
import { TcpProxy } from '../../src/datastore/kubernetes/testing/tcp-proxy.js';
import type { KubeClient } from '../../src/datastore/kubernetes/client.js';
import { waitFor } from '../../src/lab/processes.js';
import { Logger, setLogSink } from '../../src/util/log.js';
import { TestScope } from '../support/scope.js';
import { recordFault, recordRuns, type FaultRun } from './support.js';

const scope = new TestScope();
const LEASES = 'rf-leases';
const spec = { pool: '10.244.0.0/16', blockPrefix: 26, backend: 'vxlan' as const, vxlan: { vni: 1, port: 8472, directRouting: false }, natOutgoing: true, blockGraceSeconds: 60 };
let cp: ControlPlane;
let admin: KubeClient;
let proxy: TcpProxy;
const lines: string[] = [];
const members: { name: string; m: ClusterMember; problems: Problems; store: KubernetesStore; dir: string }[] = [];

before(async () => {
  setLogSink({ write: (l: string) => void lines.push(l) });
  const dir = await scope.tmpdir('rf-kube-');
  cp = await startControlPlane({ dir, watchCache: false, disableAdmission: ['ServiceAccount'] });
  scope.defer(() => cp.stop());
  admin = cp.admin();
  scope.defer(() => admin.close());
  await admin.request('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LEASES } }, what: 'creating the lease namespace' });
  proxy = new TcpProxy(Number(new URL(cp.server).port));
  await proxy.start();
  scope.defer(() => proxy.stop());
  for (const name of ['rf-node-1', 'rf-node-2']) {
    const store = new KubernetesStore({ access: { ...cp.access, server: `https://127.0.0.1:${proxy.port}` }, leaseNamespace: LEASES });
    const stateDir = await scope.tmpdir(`rf-${name}-`);
    const log = new Logger(name);
    const problems = new Problems(log);
    const m = new ClusterMember({ store, nodeName: name, stateDir, bootstrap: spec, leaseTtlSeconds: 15, underlayIface: 'lo', agentVersion: 'fault', log, problems, onChange: () => undefined, podMTU: () => 1450 });
    await m.start();
    scope.defer(async () => {
      await m.stop();
      await store.close();
    });
    members.push({ name, m, problems, store, dir: stateDir });
  }
  await converged();
});
after(async () => {
  await scope.cleanup();
  setLogSink(process.stderr);
});

const twill = (plural: string, name = ''): string => `/apis/twill.dev/v1alpha1/${plural}${name ? `/${name}` : ''}`;

async function stored(): Promise<{ nodes: string[]; blocks: { name: string; cidr: string; node: string }[] }> {
  const nodes = await admin.request<{ items: { metadata: { name: string } }[] }>(twill('twillnodes'), { what: 'listing TwillNodes' });
  const blocks = await admin.request<{ items: { metadata: { name: string }; spec: { cidr: string; node: string } }[] }>(twill('ipamblocks'), { what: 'listing IPAMBlocks' });
  return { nodes: nodes.items.map((n) => n.metadata.name).sort(), blocks: blocks.items.map((b) => ({ name: b.metadata.name, cidr: b.spec.cidr, node: b.spec.node })) };
}

/** Every disagreement (empty: nothing lost). */
async function lost(): Promise<string[]> {
  const out: string[] = [];
  const s = await stored();
  if (s.nodes.join() !== members.map((x) => x.name).sort().join()) out.push(`TwillNodes ${s.nodes.join(',')}`);
  const seen = new Map<string, string>();
  for (const { name, m, dir } of members) {
    const mine = m.claims.current().slice().sort();
    const cache = (JSON.parse(await readFile(join(dir, 'blocks.json'), 'utf8')) as { blocks: string[] }).blocks.slice().sort();
    const inStore = s.blocks.filter((b) => b.node === name).map((b) => b.cidr).sort();
    if (mine.length === 0 || mine.join() !== cache.join() || mine.join() !== inStore.join()) out.push(`${name}: blocks member ${mine.join(',')} cache ${cache.join(',')} datastore ${inStore.join(',')}`);
    for (const b of mine) {
      if (seen.has(b)) out.push(`block ${b} held by ${seen.get(b)} and ${name}`);
      seen.set(b, name);
    }
    const other = members.find((x) => x.name !== name)!.name;
    if (!m.peers.has(other)) out.push(`${name} does not see ${other}`);
    if (!m.datastoreUp) out.push(`${name} is not connected`);
  }
  return out;
}

async function converged(timeoutMs = 30_000): Promise<void> {
  let last: string[] = [];
  await waitFor('members converged', async () => (last = await lost()).length === 0, timeoutMs, 100).catch((e: unknown) => {
    throw new Error(`${String(e)}: ${last.join('; ')}`);
  });
}

const warnsSince = (n: number, re: RegExp): boolean => lines.slice(n).some((l) => / WARN /.test(l) && re.test(l));

const record = (r: FaultRun, body: () => Promise<void>): Promise<void> => recordFault(r, body);

test('kube-apiserver down for 6 s and back', { timeout: 90_000 }, async () => {
  const r: FaultRun = { fault: 'kube-apiserver down 6 s (kubernetes datastore)', survived: false, nothingLost: false, visible: false };
  await record(r, async () => {
    const n = lines.length;
    await proxy.stop();
    await waitFor('members see the outage', () => Promise.resolve(members.every((x) => !x.m.datastoreUp)), 20_000, 100);
    const during = members.map((x) => x.m.claims.current().join(',')).join(' | ');
    r.visible = warnsSince(n, /datastore connection lost/) && members.every((x) => (x.m.status()['datastore'] as { connected: boolean }).connected === false);
    await new Promise((res) => setTimeout(res, 3000));
    await proxy.start();
    await converged();
    const bad = await lost();
    r.nothingLost = bad.length === 0 && members.map((x) => x.m.claims.current().join(',')).join(' | ') === during;
    r.survived = r.nothingLost;
    r.note = `blocks kept through the outage: ${during}; ${bad.join('; ')}`;
  });
});

test('a TwillNode deleted by hand is written back', { timeout: 60_000 }, async () => {
  const r: FaultRun = { fault: 'TwillNode deleted by hand (kubernetes datastore)', survived: false, nothingLost: false, visible: false };
  await record(r, async () => {
    const n = lines.length;
    await admin.request(twill('twillnodes', 'rf-node-1'), { method: 'DELETE', what: 'deleting a TwillNode by hand' });
    await converged(20_000);
    r.visible = warnsSince(n, /TwillNode was deleted.*problem=node-record-deleted/) && members[0]!.problems.has('node-record-deleted');
    r.nothingLost = (await lost()).length === 0;
    r.survived = r.nothingLost;
  });
});

test('an IPAMBlock deleted by hand is written back before anyone can claim it', { timeout: 60_000 }, async () => {
  const r: FaultRun = { fault: 'IPAMBlock deleted by hand (kubernetes datastore)', survived: false, nothingLost: false, visible: false };
  await record(r, async () => {
    const n = lines.length;
    const b = (await stored()).blocks.find((x) => x.node === 'rf-node-1')!;
    await admin.request(twill('ipamblocks', b.name), { method: 'DELETE', what: 'deleting an IPAMBlock by hand' });
    await waitFor('the block is back', async () => (await stored()).blocks.some((x) => x.cidr === b.cidr && x.node === 'rf-node-1'), 10_000, 100);
    await converged(20_000);
    r.visible = warnsSince(n, /IPAMBlock this node holds vanished.*problem=block-record-deleted/) && members[0]!.problems.has('block-record-deleted');
    r.nothingLost = (await lost()).length === 0;
    r.survived = r.nothingLost;
    r.note = `block ${b.cidr}`;
  });
});

test('a watch resumes into 410 Gone after deletions it never saw', { timeout: 90_000 }, async () => {
  const r: FaultRun = { fault: 'watch 410 Gone hiding deletions (kubernetes datastore)', survived: false, nothingLost: false, visible: false };
  await record(r, async () => {
    const n = lines.length;
    for (const x of members) x.problems.clear('node-record-deleted');
    for (const x of members) x.problems.clear('block-record-deleted');
    await proxy.stop();
    // While the agents cannot see: node-2's registration and node-1's block are deleted, and
    // etcd is compacted, so the watches resume from a revision that no longer exists.
    await admin.request(twill('twillnodes', 'rf-node-2'), { method: 'DELETE', what: 'deleting a TwillNode' });
    const b = (await stored()).blocks.find((x) => x.node === 'rf-node-1')!;
    await admin.request(twill('ipamblocks', b.name), { method: 'DELETE', what: 'deleting an IPAMBlock' });
    const etcd = new Etcd3({ hosts: cp.etcdUrl });
    try {
      const { header } = await etcd.kv.range({ key: Buffer.from('/'), count_only: true });
      await etcd.kv.compact({ revision: header.revision, physical: true });
    } finally {
      etcd.close();
    }
    await proxy.start();
    await converged();
    const p1 = members[0]!.problems;
    const p2 = members[1]!.problems;
    r.visible = warnsSince(n, /datastore connection lost/) && warnsSince(n, /problem=(datastore-reset|node-record-deleted)/) && warnsSince(n, /problem=block-record-deleted/) &&
      (p2.has('datastore-reset') || p2.has('node-record-deleted')) && p1.has('block-record-deleted');
    r.nothingLost = (await lost()).length === 0;
    r.survived = r.nothingLost;
    r.note = `block ${b.cidr}; node-2 problems ${p2.list().map((p) => p.id).join(',')}`;
  });
});

test('a wall-clock jump of ±1 h reaps no live Lease and loses none', { timeout: 60_000 }, async () => {
  const realNow = Date.now;
  const problems = new Problems(new Logger('clock'));
  const watch = new ClockWatch(problems);
  let prev = 0;
  try {
    for (const jump of [3_600_000, -3_600_000]) {
      const n = lines.length;
      Date.now = () => realNow() + jump;
      // Renewals (every few seconds) re-arm the reaper's timer; with wall-clock arithmetic a +1 h
      // step would make every Lease it saw look expired at the next one, and reap them all.
      await new Promise((res) => setTimeout(res, 7000));
      const reaped = lines.slice(n).filter((l) => /lease expired; deleted it|liveness lease lost/.test(l));
      const bad = await lost();
      const ok = reaped.length === 0 && bad.length === 0;
      const seen = Math.abs(watch.check() - (jump - prev)) < 5000 && problems.has('clock-jump');
      prev = jump;
      assert.ok(seen, 'the jump is reported (warn, twill status)');
      recordRuns([{ fault: `wall clock jump ${jump > 0 ? '+' : '-'}1 h (kubernetes leases)`, survived: ok, nothingLost: ok, visible: seen, note: `${reaped.join(' ')} ${bad.join('; ')}`.trim() } satisfies FaultRun]);
      assert.ok(ok, `clock ${jump > 0 ? '+' : '-'}1 h: ${reaped.join(' ')} ${bad.join('; ')}`);
    }
  } finally {
    Date.now = realNow;
  }
});

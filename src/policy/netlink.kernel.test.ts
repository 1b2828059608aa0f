// Incremental policy updates sent as nf_tables netlink batches, against the real kernel: for
// seeded random clusters and changes, a table updated by netlink batches lists exactly as one
// updated by `nft -f` with the same transactions (nft itself is the oracle: it decodes what the
// kernel holds), and a batch the kernel refuses changes nothing. Needs root.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNetns } from '../dataplane/kernel/exec.js';
import { TestScope } from '../../test/support/scope.js';
import { PolicyDataplane } from './apply.js';
import { compilePolicy } from './compile.js';
import type { PolicyModel } from './model.js';
import { mutateWorld, randomWorld, Rng, snapshotFor } from './testing/world.js';

const SEED = Number(process.env['POLICY_SEED'] ?? 20261122);
const WORLDS = 6;
const STEPS = 12;
const scope = new TestScope();
let viaNetlink: { path: string };
let viaNft: { path: string };
let runDir: string;

before(async () => {
  [viaNetlink, viaNft] = await Promise.all([scope.netns('tw-nl-'), scope.netns('tw-nft-')]);
  runDir = await scope.tmpdir();
});

after(async () => {
  await scope.cleanup();
});

const list = async (ns: { path: string }): Promise<string> => (await runInNetns(ns.path, 'nft', ['list', 'table', 'inet', 'twill-policy'])).stdout;

test(`netlink batches leave the table exactly as nft -f does, over random clusters and changes (seed ${SEED})`, async () => {
  const tally = { netlink: 0, nft: 0, fallbacks: new Set<string>() };
  for (let wi = 0; wi < WORLDS; wi++) {
    const rng = new Rng(SEED + wi);
    let w = randomWorld(rng);
    const node = w.nodes[0]!;
    // Odd worlds carry the flow-record NFLOG rules (their encoding is checked the same way).
    const opts = wi % 2 ? { log: { group: 100, rate: 1000, burst: 100 } } : {};
    const a = new PolicyDataplane({ runDir: `${runDir}/a`, netnsPath: viaNetlink.path });
    const b = new PolicyDataplane({ runDir: `${runDir}/b`, netnsPath: viaNft.path, netlink: false });
    try {
      const first = compilePolicy(snapshotFor(w, node), opts);
      await a.apply(first, { full: true });
      await b.apply(first, { full: true });
      for (let step = 0; step < STEPS; step++) {
        w = mutateWorld(rng, w);
        const m = compilePolicy(snapshotFor(w, node), opts);
        const [ra, rb] = [await a.apply(m), await b.apply(m)];
        assert.equal(ra.mode, rb.mode);
        if (ra.mode !== 'incremental') continue;
        assert.equal(rb.via, 'nft');
        if (ra.via === 'netlink') tally.netlink++;
        else {
          tally.nft++;
          tally.fallbacks.add(ra.fallback ?? '?');
        }
        assert.equal(await list(viaNetlink), await list(viaNft), `world ${wi} (seed ${SEED + wi}) step ${step}: the tables differ`);
      }
    } finally {
      a.close();
    }
  }
  // Every shape the compiler emits has an encoding: a fallback here means a new shape slipped in.
  assert.equal(tally.nft, 0, `incremental updates that fell back to nft -f: ${[...tally.fallbacks].join('; ')}`);
  assert.ok(tally.netlink >= WORLDS * STEPS * 0.5, `too few incremental updates were compared: ${tally.netlink}`);
});

test('a batch the kernel refuses changes nothing, names the refused step, and the next apply is full', async () => {
  const rng = new Rng(SEED);
  const w = randomWorld(rng);
  const dp = new PolicyDataplane({ runDir: `${runDir}/c`, netnsPath: viaNetlink.path });
  try {
    const node = w.nodes[0]!;
    const good = compilePolicy(snapshotFor(w, node));
    await dp.apply(good, { full: true });
    const before = await list(viaNetlink);
    // A valid change (a new endpoint) first, then an element whose verdict jumps to no chain.
    const next = compilePolicy(snapshotFor({ ...w, pods: [...w.pods, { namespace: w.namespaces[0]!.name, name: 'extra', labels: {}, ips: ['10.244.1.250'], node, ports: [] }] }, node));
    const bad: PolicyModel = {
      ...next,
      sets: next.sets.map((s) => (s.name === 'ingress_groups' ? { ...s, elements: [...s.elements, { key: '10.244.1.251', value: 'goto pe_missing' }] } : s)),
    };
    await assert.rejects(dp.apply(bad), (e: Error) => {
      assert.match(e.message, /the kernel refused the incremental update of table inet twill-policy/);
      assert.match(e.message, /step "add element inet twill-policy ingress_groups \{ .* \}" failed with ENOENT \(a table, chain, set or element it names does not exist\)/);
      assert.match(e.message, /previous ruleset is still in force/);
      return true;
    });
    assert.equal(await list(viaNetlink), before, 'nothing of the refused batch was applied, not even the steps before the refused one');
    const r = await dp.apply(next);
    assert.equal(r.mode, 'full', 'after a refusal the next apply replaces the whole table');
    assert.match(await list(viaNetlink), /10\.244\.1\.250/);
    const again = await dp.apply(compilePolicy(snapshotFor(w, node)));
    assert.deepEqual([again.mode, again.via], ['incremental', 'netlink'], 'and then incremental batches resume');
  } finally {
    dp.close();
  }
});

test('the read-back of one anti-spoofing element over netlink (GETSETELEM) answers as nft -j list does', async () => {
  const rng = new Rng(SEED + 99);
  const w = randomWorld(rng);
  const snap = snapshotFor(w, w.nodes[0]!);
  const a = new PolicyDataplane({ runDir: `${runDir}/ra`, netnsPath: viaNetlink.path });
  const b = new PolicyDataplane({ runDir: `${runDir}/rb`, netnsPath: viaNetlink.path, netlink: false });
  try {
    await a.apply(compilePolicy(snap), { full: true });
    const present = snap.localEndpoints.map((e) => [e.hostIface, e.ip] as const);
    assert.ok(present.length > 0, 'the world has local pods');
    // Absent: a known interface with another pod's address, an unknown interface, an address of no pod.
    const absent = [[present[0]![0], present[present.length - 1]![1] === present[0]![1] ? '10.255.0.9' : present[present.length - 1]![1]], ['twlnothere00', present[0]![1]], [present[0]![0], '10.255.255.254'], [present[0]![0], 'fd00:ffff::9']] as const;
    for (const [iface, ip] of [...present, ...absent]) {
      const want = await b.endpointInKernel('twill-policy', iface, ip);
      assert.equal(await a.endpointInKernel('twill-policy', iface, ip), want, `${iface} . ${ip}: netlink and nft disagree`);
    }
    assert.ok(await a.endpointInKernel('twill-policy', present[0]![0], present[0]![1]));
    assert.equal(await a.endpointInKernel('twill-policy', 'twlnothere00', present[0]![1]), false);
  } finally {
    a.close();
  }
});

// Fault injection against the control plane of a 2-node lab (real agents, real etcd): etcd down,
// flapping, restarted with its data lost; an nf_tables update the kernel refuses half-way; the
// agent SIGKILLed during policy applies and during block claims. Each run checks what must hold
// afterwards (cluster-support.ts) and whether the fault was loud (warn/error lines, twill status).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/dataplane/kernel/exec.js';
import type { Lab } from '../../src/lab/lab.js';
import { waitFor } from '../../src/lab/processes.js';
import { labDir, nodeDir } from '../../src/lab/state.js';
import { createNetns, deleteNetns, netnsPath } from '../../src/dataplane/kernel/netns.js';
import { CniPluginError } from '../../src/lab/cni-runtime.js';
import { TestScope } from '../support/scope.js';
import { applyYaml, upLab } from '../support/lab.js';
import { NS, PODS_YAML, syncPolicy as syncPolicyOf, clusterProblems, convergenceSnapshot, logOffsets, loudLinesSince, policyYaml, reaches, status } from './cluster-support.js';
import { prng } from './consistency.js';
import { recordFault, recordRuns, type FaultRun } from './support.js';

// TWILL_FAULT_LAB: run a second copy beside a running suite (a lab name: ≤12 lower-case chars).
const NAME = process.env['TWILL_FAULT_LAB'] ?? 'rffc';
const SEED = Number(process.env['TWILL_FAULT_SEED'] ?? 13);
const POLICY_KILLS = Number(process.env['TWILL_FAULT_POLICY_KILLS'] ?? 10);
const CLAIM_KILLS = Number(process.env['TWILL_FAULT_CLAIM_KILLS'] ?? 8);
const scope = new TestScope();
let lab: Lab;

before(async () => {
  lab = await upLab(scope, NAME, { nodes: 2, leaseTtlSeconds: 15 });
  await applyYaml(scope, lab, PODS_YAML + policyYaml('b-from-a', 'a'));
  await lab.waitConverged();
  await syncPolicy();
});
after(() => scope.cleanup());

const syncPolicy = (): Promise<void> => syncPolicyOf(lab);

const record = (r: FaultRun, body: () => Promise<void>): Promise<void> =>
  recordFault(r, body, async () => {
    const etcdLog = await readFile(join(labDir(NAME), 'etcd', 'etcd.log'), 'utf8').catch(() => '');
    return `--- etcd.log ---\n${etcdLog.split('\n').slice(-8).join('\n')}`;
  });

async function etcdUp(): Promise<void> {
  await lab.startEtcd();
  await reconnected();
}

/** Every agent is connected to the (running) etcd again, converged, and its policy synced. */
async function reconnected(): Promise<void> {
  await waitFor('agents reconnected', async () => {
    for (const n of lab.state.nodes) if (!(await status(lab, n.name)).cluster?.datastore.connected) return false;
    return true;
  }, 30_000, 200);
  await lab.waitConverged();
  await syncPolicy();
}

test('etcd down for 8 s', { timeout: 90_000 }, async () => {
  const r: FaultRun = { fault: 'etcd down 8 s', survived: false, nothingLost: false, visible: false };
  await record(r, async () => {
    const off = await logOffsets(lab);
    await lab.stopEtcd();
    try {
      await new Promise((res) => setTimeout(res, 2000));
      const during = await clusterProblems(lab).catch((e: unknown) => [`check failed: ${String(e)}`]);
      // The datastore is down, so the block check cannot read it: keep only the datapath checks.
      const datapath = during.filter((x) => !x.startsWith('check failed') || !/datastore|etcd|DATASTORE/.test(x));
      const disconnected = (await Promise.all(lab.state.nodes.map((n) => status(lab, n.name)))).every((s) => s.cluster?.datastore.connected === false);
      r.visible = disconnected && /WARN .*(watch disconnected|datastore)/.test(await loudLinesSince(lab, off));
      r.note = `during: ${datapath.join('; ') || 'ok'}`;
      await new Promise((res) => setTimeout(res, 6000));
      if (!(await reaches(lab, 'a', 'b'))) r.note += '; a→b lost while etcd was down';
      else if (await reaches(lab, 'c', 'b')) r.note += '; policy lost while etcd was down';
      else r.nothingLost = true;
    } finally {
      await etcdUp();
    }
    const bad = await clusterProblems(lab);
    r.nothingLost &&= bad.length === 0;
    r.survived = bad.length === 0;
    if (bad.length) r.note += `; after: ${bad.join('; ')}`;
  });
});

test('etcd flapping (2 s down, 2 s up, 3 times) while a pod is added', { timeout: 120_000 }, async () => {
  const r: FaultRun = { fault: 'etcd flapping', survived: false, nothingLost: true, visible: false };
  await record(r, async () => {
    const off = await logOffsets(lab);
    const pod = `${NAME}-flap`;
    await createNetns(pod);
    scope.defer(() => deleteNetns(pod));
    const rt = { containerId: pod, netns: netnsPath(pod), ifname: 'eth0', args: { K8S_POD_NAMESPACE: 'f', K8S_POD_NAME: 'flap' } };
    let added = false;
    const adder = (async () => {
      for (let i = 0; i < 80 && !added; i++) {
        try {
          await lab.runtime('node-1').addNetworkList(lab.conflist('node-1'), rt);
          added = true;
        } catch (e) {
          if (!(e instanceof CniPluginError && e.cniCode === 11)) throw e; // only "try again" is acceptable
          await new Promise((res) => setTimeout(res, 250));
        }
      }
    })();
    for (let i = 0; i < 3; i++) {
      await lab.stopEtcd();
      await new Promise((res) => setTimeout(res, 2000));
      await lab.startEtcd();
      if (!(await reaches(lab, 'a', 'b')) || (await reaches(lab, 'c', 'b'))) {
        r.nothingLost = false;
        r.note = `${r.note ?? ''} cycle ${i}: datapath changed;`;
      }
      await new Promise((res) => setTimeout(res, 2000));
    }
    // etcd is up again after the last cycle: starting it once more would be a second etcd.
    await reconnected();
    await adder;
    r.visible = /WARN .*(watch disconnected|datastore)/.test(await loudLinesSince(lab, off));
    const bad = await clusterProblems(lab);
    r.nothingLost &&= bad.length === 0 && added;
    r.survived = bad.length === 0 && added;
    r.note = `${r.note ?? ''} pod added during flapping: ${added}; ${bad.join('; ')}`;
    await lab.runtime('node-1').delNetworkList(lab.conflist('node-1'), rt);
  });
});

test('etcd restarted with its data lost: the agents write back the cluster state', { timeout: 120_000 }, async () => {
  const r: FaultRun = { fault: 'etcd data lost', survived: false, nothingLost: false, visible: false };
  await record(r, async () => {
    const store0 = await lab.store();
    const blocksBefore = (await store0.list('IPAMBlock')).items.map((b) => `${b.spec.node}=${b.spec.cidr}`).sort();
    const off = await logOffsets(lab);
    await lab.stopEtcd();
    await rm(join(labDir(NAME), 'etcd', 'data'), { recursive: true, force: true });
    await lab.startEtcd();
    // Proof the data is really gone (not an etcd that outlived its stop, serving the unlinked
    // files): the user's policy is something no agent ever writes back.
    assert.equal(await (await lab.store()).get('NetworkPolicy', `${NS}/b-from-a`), undefined, 'etcd came back with its old data: the wipe did not happen');
    // The lab's own objects (ClusterConfig written at lab up) are gone too: the agents must put
    // back the cluster configuration, their registrations and their blocks.
    await waitFor('cluster state written back', async () => {
      const store = await lab.store();
      const blocks = (await store.list('IPAMBlock')).items.map((b) => `${b.spec.node}=${b.spec.cidr}`).sort();
      const nodes = (await store.list('TwillNode')).items.length;
      return blocks.join() === blocksBefore.join() && nodes === 2 && !!(await store.get('ClusterConfig', 'default'));
    }, 45_000, 250);
    const loud = await loudLinesSince(lab, off);
    const problems = (await Promise.all(lab.state.nodes.map((n) => status(lab, n.name)))).flatMap((s) => (s.problems ?? []).map((p) => p.id));
    // Deliberately re-created (not refused): and while the agents write back, no new block is
    // claimed (src/agent/cluster/reset.ts), so no block is handed out twice.
    r.visible = /ERROR .*revision went backwards/.test(loud) && problems.includes('cluster-config') && /WARN .*claims no new block.*problem=claims-frozen/.test(loud) &&
      (await Promise.all(lab.state.nodes.map((n) => status(lab, n.name)))).every((s) => (s.problems ?? []).some((p) => p.id === 'claims-frozen'));
    const dp = (await reaches(lab, 'a', 'b')) ? '' : 'a→b lost';
    // The user's objects (pods, policies) are the operator's to restore: the agents cannot know them.
    await applyYaml(scope, lab, PODS_YAML + policyYaml('b-from-a', 'a'));
    await lab.waitConverged();
    await syncPolicy();
    const bad = await clusterProblems(lab);
    r.nothingLost = !dp && bad.length === 0;
    r.survived = r.nothingLost;
    r.note = `blocks ${blocksBefore.join(',')} written back; ${dp} ${bad.join('; ')} problems=${problems.join(',')}`;
  });
});

test('the kernel refuses a policy netlink batch half-way: the old ruleset stays, the error shows, the retry converges', { timeout: 60_000 }, async () => {
  const r: FaultRun = { fault: 'policy netlink batch refused by the kernel', survived: false, nothingLost: false, visible: false };
  await record(r, async () => {
    await applyYaml(scope, lab, policyYaml('b-from-c', 'c'));
    await syncPolicy();
    assert.ok(await reaches(lab, 'c', 'b'), 'b-from-c admits c');
    const ns = lab.node('node-2').netns;
    const text = (await run('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'twill-policy'])).stdout;
    const chain = /chain (\S+) \{\s*comment "f\/b-from-c ingress"/.exec(text)?.[1];
    assert.ok(chain, 'the chain of f/b-from-c');
    // Something else jumps to that chain: deleting it is refused by the kernel (EBUSY) in the
    // middle of the transaction that removes the policy.
    const file = join(nodeDir(NAME, 'node-2'), 'rf-foreign.nft');
    await writeFile(file, `add chain inet twill-policy rf-foreign\nadd rule inet twill-policy rf-foreign jump ${chain}\n`);
    await run('ip', ['netns', 'exec', ns, 'nft', '-f', file]);
    const before = (await status(lab, 'node-2')).policy?.failures ?? 0;
    const off = await logOffsets(lab);
    await (await lab.store()).delete('NetworkPolicy', 'f/b-from-c');
    await syncPolicy();
    const after = (await status(lab, 'node-2')).policy;
    const loud = await loudLinesSince(lab, off);
    // An incremental update (the policy's removal) goes as one nf_tables netlink batch; the
    // kernel refuses its chain deletion (EBUSY) after earlier steps: the whole batch is dropped.
    r.visible = (after?.failures ?? 0) > before && /WARN .*reconcile failed.*the kernel refused the incremental update/.test(loud) && /the kernel refused the incremental update/.test(after?.lastFailure?.error ?? '');
    const bad = await clusterProblems(lab);
    r.nothingLost = bad.length === 0;
    r.survived = r.nothingLost;
    r.note = `failures ${before}→${after?.failures}; last: ${after?.lastFailure?.error.slice(0, 120)}; ${bad.join('; ')}`;
  });
});

test(`agent SIGKILLed during policy applies (${POLICY_KILLS} kills, seed ${SEED})`, { timeout: 300_000 }, async () => {
  const rnd = prng(SEED + 1);
  const runs: FaultRun[] = [];
  for (let k = 0; k < POLICY_KILLS; k++) {
    const r: FaultRun = { fault: 'SIGKILL during policy apply', survived: false, nothingLost: false, visible: false };
    try {
      const withC = k % 2 === 0;
      const change = withC ? applyYaml(scope, lab, policyYaml('b-from-c', 'c')) : (await lab.store()).delete('NetworkPolicy', 'f/b-from-c').then(() => undefined);
      await new Promise((res) => setTimeout(res, Math.floor(rnd() * 60)));
      await lab.stopAgent('node-2', 'SIGKILL');
      await change;
      await lab.startAgent('node-2');
      await lab.waitConverged();
      await syncPolicy();
      // The restart says it followed a kill (warn line, twill status); the policy reconcile runs.
      const st = await status(lab, 'node-2');
      r.visible = st.policy !== undefined && (st.problems ?? []).some((p) => p.id === 'restart-after-kill');
      const bad = await clusterProblems(lab, { policy: withC ? 'absent' : 'enforced' });
      r.nothingLost = bad.length === 0;
      r.survived = r.nothingLost;
      r.note = `kill ${k}: ${withC ? 'add' : 'delete'} b-from-c; ${bad.join('; ')}`;
    } catch (e) {
      r.note = `kill ${k} threw: ${String(e)}`;
    }
    runs.push(r);
    if (!r.survived) break;
  }
  recordRuns(runs);
  for (const r of runs) assert.ok(r.survived && r.nothingLost && r.visible, JSON.stringify(r));
  await (await lab.store()).delete('NetworkPolicy', 'f/b-from-c').catch(() => false); // leave b-from-a only
  await syncPolicy();
});

test(`agent SIGKILLed during its block claim (${CLAIM_KILLS} kills, seed ${SEED})`, { timeout: 300_000 }, async () => {
  const rnd = prng(SEED + 2);
  const runs: FaultRun[] = [];
  let namedClaims = 0;
  const node3 = await lab.addNode(() => undefined);
  await lab.waitConverged();
  for (let k = 0; k < CLAIM_KILLS; k++) {
    const r: FaultRun = { fault: 'SIGKILL during block claim', survived: false, nothingLost: false, visible: false };
    try {
      // node-3 has no pods: forget its block everywhere so that its next start claims one.
      await lab.stopAgent(node3, 'SIGKILL');
      const store = await lab.store();
      for (const b of (await store.list('IPAMBlock')).items) if (b.spec.node === node3) await store.delete('IPAMBlock', b.metadata.name);
      await rm(join(nodeDir(NAME, node3), 'state', 'blocks.json'), { force: true });
      const start = lab.startAgent(node3).then(() => 'started', (e: unknown) => `failed: ${String(e).split('\n')[0]}`);
      const delay = 150 + Math.floor(rnd() * 500);
      await new Promise((res) => setTimeout(res, delay));
      await lab.stopAgent(node3, 'SIGKILL');
      const first = await start;
      await lab.startAgent(node3);
      await lab.waitConverged();
      const held = (await store.list('IPAMBlock')).items.filter((b) => b.spec.node === node3).length;
      const bad = await clusterProblems(lab);
      if (held !== 1) bad.push(`${node3} holds ${held} blocks in the datastore (a claim leaked or was lost)`);
      // The restart names what the kill interrupted: the claim, or nothing (the kill came before
      // or after it), never something else.
      const st3 = await status(lab, node3);
      const msg = (st3.problems ?? []).find((p) => p.id === 'restart-after-kill')?.message ?? '';
      const running = /it was running: (.*?); start-up recovery/.exec(msg)?.[1] ?? '';
      r.visible = st3.cluster !== undefined && (running === 'no operation in flight' || running === `claim a block for ${node3}`);
      if (running === `claim a block for ${node3}`) namedClaims++;
      r.nothingLost = bad.length === 0;
      r.survived = r.nothingLost;
      r.note = `kill ${k} after ${delay} ms (${first}); named: ${running || '(nothing)'}; ${bad.join('; ')}`;
    } catch (e) {
      r.note = `kill ${k} threw: ${String(e)}\n${await convergenceSnapshot(lab)}`;
    }
    runs.push(r);
    if (!r.survived) break;
  }
  recordRuns(runs);
  for (const r of runs) assert.ok(r.survived && r.nothingLost && r.visible, JSON.stringify(r));
  console.log(`claim kills whose restart named the interrupted claim: ${namedClaims} of ${runs.length}`);
});

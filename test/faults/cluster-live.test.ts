// Fault injection in a live 2-node lab (real agents, real etcd) while the agents run: the block
// cache and the policy cache damaged under a running agent (found by the state audit, repaired
// from memory, trusted by the next start), and a routing change over netlink that the kernel
// refuses half-way (the previous datapath stays, the error shows, the retry converges).
import { after, before, test } from 'node:test';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/dataplane/kernel/exec.js';
import { vtepMac } from '../../src/dataplane/routing/index.js';
import type { Lab } from '../../src/lab/lab.js';
import { waitFor } from '../../src/lab/processes.js';
import { nodeDir } from '../../src/lab/state.js';
import { TWILL_API, type TwillNode } from '../../src/model/types.js';
import { TestScope } from '../support/scope.js';
import { applyYaml, upLab } from '../support/lab.js';
import { PODS_YAML, syncPolicy as syncPolicyOf, clusterProblems, logOffsets, loudLinesSince, policyYaml, status } from './cluster-support.js';
import { recordFault, type FaultRun } from './support.js';

const NAME = process.env['TWILL_FAULT_LIVE_LAB'] ?? 'rffl';
const scope = new TestScope();
let lab: Lab;

before(async () => {
  lab = await upLab(scope, NAME, { nodes: 2, leaseTtlSeconds: 15, agentFlags: ['--state-audit', '1'] });
  await applyYaml(scope, lab, PODS_YAML + policyYaml('b-from-a', 'a'));
  await lab.waitConverged();
  await syncPolicy();
});
after(() => scope.cleanup());

const syncPolicy = (): Promise<void> => syncPolicyOf(lab);

const record = (r: FaultRun, body: () => Promise<void>): Promise<void> => recordFault(r, body);

type Damage = 'truncated' | 'garbage' | 'unreadable';

async function damage(file: string, how: Damage): Promise<void> {
  const text = await readFile(file, 'utf8');
  await rm(file, { force: true });
  if (how === 'truncated') await writeFile(file, text.slice(0, Math.floor(text.length / 2)));
  if (how === 'garbage') await writeFile(file, '\u0000\u00ff not json at all');
  if (how === 'unreadable') await mkdir(file); // EISDIR: root reads any file, not a directory
}

const problemIds = async (node: string): Promise<string[]> => ((await status(lab, node)).problems ?? []).map((p) => p.id);

/**
 * Damages a cache file of `node` while its agent runs; the state audit must report and repair it,
 * and a clean restart afterwards must trust the file (no cache problem at start).
 */
async function liveCache(fault: string, node: string, kind: 'block-cache' | 'policy-cache', file: string, how: Damage, startProblem: (st: Awaited<ReturnType<typeof status>>) => string | undefined): Promise<void> {
  const r: FaultRun = { fault, survived: false, nothingLost: false, visible: false };
  await record(r, async () => {
    const off = await logOffsets(lab);
    await damage(file, how);
    await waitFor(`${kind} repaired on ${node}`, async () => (await problemIds(node)).some((id) => id.startsWith(`state-file:${kind}:`)), 10_000, 100);
    r.visible = new RegExp(`WARN .*damaged while the agent ran.*problem=state-file:${kind}:`).test(await loudLinesSince(lab, off));
    await lab.stopAgent(node, 'SIGTERM');
    await lab.startAgent(node);
    await lab.waitConverged();
    await syncPolicy();
    const atStart = startProblem(await status(lab, node));
    const bad = await clusterProblems(lab);
    r.nothingLost = bad.length === 0 && atStart === undefined;
    r.survived = r.nothingLost;
    r.note = `${how}; at restart: ${atStart ?? 'cache trusted'}; ${bad.join('; ')}`;
  });
}

for (const how of ['truncated', 'garbage', 'unreadable'] as const) {
  test(`block cache ${how} while the agent runs`, { timeout: 60_000 }, () =>
    liveCache(`block cache ${how} (running)`, 'node-1', 'block-cache', join(nodeDir(NAME, 'node-1'), 'state', 'blocks.json'), how,
      (st) => (st.cluster as { blockCacheError?: string } | undefined)?.blockCacheError));
  test(`policy cache ${how} while the agent runs`, { timeout: 60_000 }, () =>
    liveCache(`policy cache ${how} (running)`, 'node-2', 'policy-cache', join(nodeDir(NAME, 'node-2'), 'state', 'policy', 'accepted.json'), how,
      (st) => st.problems?.find((p) => p.id === 'policy-cache')?.id));
}

test('the kernel refuses a routing change over netlink half-way: the datapath stays, the error shows, the retry converges', { timeout: 90_000 }, async () => {
  const r: FaultRun = { fault: 'netlink route refused by the kernel', survived: false, nothingLost: false, visible: false };
  const ns = lab.node('node-1').netns;
  const ip = (...a: string[]): Promise<string> => run('ip', ['-n', ns, ...a]).then((x) => x.stdout);
  // A peer whose VTEP address is, on node-1, a local address: the kernel accepts its neighbour
  // and FDB entries but refuses the onlink route through it ("Nexthop has invalid gateway").
  const ghost: TwillNode = {
    apiVersion: TWILL_API, kind: 'TwillNode', metadata: { name: 'rf-ghost' },
    spec: { underlayIP: '192.0.2.250', underlayCIDR: '192.0.2.0/24', backend: 'vxlan', vtepMAC: vtepMac('rf-ghost'), vtepIP: '10.244.250.0', blocks: ['10.244.250.0/26'], agentVersion: 'fault' },
  };
  const store = await lab.store();
  scope.defer(async () => {
    await (await lab.store()).delete('TwillNode', 'rf-ghost').catch(() => false); // why: test cleanup; gone already when the test passed
    await run('ip', ['-n', ns, 'addr', 'del', '10.244.250.0/32', 'dev', 'lo']).catch(() => undefined); // why: test cleanup; gone already when the test passed
  });
  await record(r, async () => {
    const before = (await ip('route', 'show', 'proto', '116')).trim();
    await ip('addr', 'add', '10.244.250.0/32', 'dev', 'lo');
    const off = await logOffsets(lab);
    await store.create(ghost);
    await waitFor('node-1 reports the refused route', async () => /10\.244\.250\.0\/26/.test((await status(lab, 'node-1') as { routing?: { lastError?: string } }).routing?.lastError ?? ''), 15_000, 100);
    const st = (await lab.agentStatus('node-1')).routing;
    const loud = await loudLinesSince(lab, off);
    const neigh = await ip('neigh', 'show', 'dev', 'twill0');
    const halfWay = neigh.includes('10.244.250.0'); // the neighbour went in, the route did not
    const routesDuring = (await ip('route', 'show', 'proto', '116')).trim();
    const during = await clusterProblems(lab);
    r.visible = !!st?.lastError && /WARN .*reconcile failed.*10\.244\.250\.0\/26/.test(loud);
    // The fault goes away: the reconciler's retry (backoff, no new trigger) must converge.
    await ip('addr', 'del', '10.244.250.0/32', 'dev', 'lo');
    await waitFor('node-1 routes to the new peer', async () => (await ip('route', 'show', '10.244.250.0/26', 'proto', '116')).includes('via 10.244.250.0'), 20_000, 200);
    await waitFor('node-1 has no routing error', async () => !(await lab.agentStatus('node-1')).routing?.lastError, 10_000, 200);
    await store.delete('TwillNode', 'rf-ghost');
    await waitFor('the ghost peer is gone from node-1', async () => !(await ip('route', 'show', 'proto', '116')).includes('10.244.250.0'), 20_000, 200);
    await lab.waitConverged();
    const after = (await ip('route', 'show', 'proto', '116')).trim();
    const bad = await clusterProblems(lab);
    r.nothingLost = halfWay && during.length === 0 && routesDuring === before && after === before && bad.length === 0;
    r.survived = r.nothingLost;
    r.note = `half-way=${halfWay}; lastError: ${st?.lastError?.slice(0, 160)}; during: ${during.join('; ') || 'ok'}; routes kept: ${routesDuring === before}; after: ${bad.join('; ') || 'ok'}`;
  });
});

// Fault injection: the agent's state files corrupt, truncated, empty or unreadable, at start-up
// and while the agent runs (attachments, IPAM records, tombstones; the block and policy caches are
// damaged in a live lab: cluster-live.test.ts). After each fault and a restart of the agent: the live
// pod keeps its connectivity, no address is handed out twice, the fault is an ERROR/WARN line in
// the log and a problem in `twill status`, and the pod can still be deleted cleanly.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tombstoneDir } from '../../src/dataplane/kernel/names.js';
import { TestScope } from '../support/scope.js';
import { NodeHarness, resultIp } from '../support/node-harness.js';
import { recordRuns, table, loadRuns, type FaultRun } from './support.js';

const scope = new TestScope();
let node: NodeHarness;
const runs: FaultRun[] = [];

before(async () => {
  // The state audit every second, so a file damaged while the agent runs is found within a test.
  node = await NodeHarness.start(scope, { podCidr: '10.244.9.0/26', prefix: 'rf-', agentArgs: ['--state-audit', '1'] });
});
after(async () => {
  recordRuns(runs);
  console.log(`\n${table(loadRuns())}\n`);
  await scope.cleanup();
});

type Damage = 'truncated' | 'empty' | 'garbage' | 'unreadable';
const DAMAGE: Damage[] = ['truncated', 'empty', 'garbage', 'unreadable'];

async function damage(file: string, how: Damage): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => '{"x":1}');
  await rm(file, { force: true });
  if (how === 'truncated') await writeFile(file, text.slice(0, Math.floor(text.length / 2)));
  if (how === 'empty') await writeFile(file, '');
  if (how === 'garbage') await writeFile(file, '\u0000\u00ff not json at all');
  if (how === 'unreadable') await mkdir(file); // EISDIR: root can read any file, not a directory as one
}

interface Status {
  attachments: { id: string; ips: string[] }[];
  problems: { id: string; level: string }[];
}

type Conflist = ReturnType<typeof node.conflist>;
type Sandbox = Awaited<ReturnType<typeof node.sandbox>>;

/** Two pods added after the fault: the damaged pod's address must not be among theirs. */
async function addFresh(list: Conflist): Promise<{ fresh: Sandbox[]; ips: string[] }> {
  const fresh = [await node.sandbox(), await node.sandbox()];
  const ips = [];
  for (const f of fresh) ips.push(resultIp(await node.runtime.addNetworkList(list, f)));
  return { fresh, ips };
}

/** Deletes the run's pods; survived when nothing was lost and the agent no longer holds `ip`. */
async function removePods(r: FaultRun, list: Conflist, pods: Sandbox[], ip: string): Promise<boolean> {
  for (const f of pods) await node.runtime.delNetworkList(list, f);
  return r.nothingLost && !(JSON.parse(await node.status('json')) as Status).attachments.some((a) => a.ips.includes(ip));
}

/** Each run starts from a clean agent: restart it so earlier problems are not counted again. */
async function resetAgent(): Promise<void> {
  await node.stopAgent('SIGKILL');
  await rm(join(node.stateDir(), 'quarantine'), { recursive: true, force: true });
  await node.startAgent();
}

async function runFault(fault: string, inject: (pod: { containerId: string }, ip: string) => Promise<void>): Promise<void> {
  const list = node.conflist();
  const pod = await node.sandbox();
  const ip = resultIp(await node.runtime.addNetworkList(list, pod));
  const logBefore = (await node.log()).length;
  const r: FaultRun = { fault, survived: false, nothingLost: false, visible: false };
  try {
    await node.stopAgent('SIGKILL');
    await inject(pod, ip);
    await node.startAgent();
    const reachable = await node.ping(node.netns, ip);
    const { fresh, ips } = await addFresh(list);
    const st = JSON.parse(await node.status('json')) as Status;
    const held = st.attachments.flatMap((a) => a.ips);
    r.nothingLost = reachable && !ips.includes(ip) && new Set(held).size === held.length && held.includes(ip);
    const log = (await node.log()).slice(logBefore);
    // The restart after the SIGKILL is reported too (restart-after-kill): only the state-file
    // problems count here.
    const fileProblem = /^(attachment|address|tombstone)/;
    r.visible = /(WARN |ERROR) .*problem=(attachment|address|tombstone)/.test(log) && st.problems.some((p) => fileProblem.test(p.id));
    r.survived = await removePods(r, list, [pod, ...fresh], ip);
    r.note = `reachable=${reachable} new=${ips.join(',')} problems=${st.problems.map((p) => p.id).join(',')}`;
  } finally {
    runs.push(r);
    await resetAgent();
  }
  assert.ok(r.survived && r.nothingLost && r.visible, `${fault}: ${JSON.stringify(r)}`);
}

for (const how of DAMAGE) {
  test(`attachment record ${how} at start`, () =>
    runFault(`attachment record ${how} (start)`, (pod) => damage(join(node.stateDir(), 'attachments', `${pod.containerId}_eth0.json`), how)));
  test(`address record ${how} at start`, () =>
    runFault(`address record ${how} (start)`, (_pod, ip) => damage(join(node.stateDir(), 'ipam', ip), how)));
  test(`tombstone ${how} at start`, () =>
    runFault(`tombstone ${how} (start)`, async () => {
      const dir = tombstoneDir(node.socket);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'rf-ghost_eth0.json'), JSON.stringify({ containerId: 'rf-ghost', ifname: 'eth0' }));
      await damage(join(dir, 'rf-ghost_eth0.json'), how);
    }));
}

/**
 * A file damaged while the agent runs: the state audit must find it (a warn line and a
 * state-file problem), keep the pod (reachable, its address never handed out again), and leave
 * the files such that a restart after it finds nothing to quarantine and keeps the pod.
 */
async function runLive(fault: string, kind: string, inject: (pod: { containerId: string }, ip: string) => Promise<void>): Promise<void> {
  const list = node.conflist();
  const pod = await node.sandbox();
  const ip = resultIp(await node.runtime.addNetworkList(list, pod));
  const logBefore = (await node.log()).length;
  const r: FaultRun = { fault, survived: false, nothingLost: false, visible: false };
  try {
    await inject(pod, ip);
    const seen = async (): Promise<boolean> => (JSON.parse(await node.status('json')) as Status).problems.some((p) => p.id.startsWith(`state-file:${kind}:`));
    for (let i = 0; i < 50 && !(await seen()); i++) await new Promise((res) => setTimeout(res, 100));
    const log = (await node.log()).slice(logBefore);
    r.visible = (await seen()) && new RegExp(`WARN .*damaged while the agent ran.*problem=state-file:${kind}:`).test(log);
    const { fresh, ips } = await addFresh(list);
    // A clean restart: the repaired files must be trusted as they are (no quarantine at start).
    await node.stopAgent('SIGTERM');
    const restartLog = (await node.log()).length;
    await node.startAgent();
    const st = JSON.parse(await node.status('json')) as Status;
    const atStart = st.problems.filter((p) => /^(attachment|address|tombstone)/.test(p.id)).map((p) => p.id);
    const held = st.attachments.flatMap((a) => a.ips);
    const reachable = await node.ping(node.netns, ip);
    r.nothingLost = reachable && !ips.includes(ip) && held.includes(ip) && new Set(held).size === held.length && atStart.length === 0 &&
      !/ (WARN|ERROR) .*problem=(attachment|address)/.test((await node.log()).slice(restartLog));
    r.survived = await removePods(r, list, [pod, ...fresh], ip);
    r.note = `reachable=${reachable} new=${ips.join(',')} problems at restart=${atStart.join(',') || 'none'}`;
  } finally {
    runs.push(r);
    await resetAgent();
  }
  assert.ok(r.survived && r.nothingLost && r.visible, `${fault}: ${JSON.stringify(r)}`);
}

for (const how of DAMAGE) {
  test(`attachment record ${how} while the agent runs`, () =>
    runLive(`attachment record ${how} (running)`, 'attachment', (pod) => damage(join(node.stateDir(), 'attachments', `${pod.containerId}_eth0.json`), how)));
  test(`address record ${how} while the agent runs`, () =>
    runLive(`address record ${how} (running)`, 'address', (_pod, ip) => damage(join(node.stateDir(), 'ipam', ip), how)));
  test(`tombstone ${how} while the agent runs`, () =>
    runLive(`tombstone ${how} (running)`, 'tombstone', async () => {
      const dir = tombstoneDir(node.socket);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'rf-ghost_eth0.json'), JSON.stringify({ containerId: 'rf-ghost', ifname: 'eth0' }));
      await damage(join(dir, 'rf-ghost_eth0.json'), how);
    }));
}

test('attachment and address record of one pod both truncated at start', () =>
  runFault('attachment + address record truncated (start)', async (pod, ip) => {
    await damage(join(node.stateDir(), 'attachments', `${pod.containerId}_eth0.json`), 'truncated');
    await damage(join(node.stateDir(), 'ipam', ip), 'truncated');
  }));

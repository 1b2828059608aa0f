// Fault injection: the agent's state files corrupt, truncated, empty or unreadable at start-up
// (attachments, IPAM records, tombstones). After each fault and a restart of the agent: the live
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
  node = await NodeHarness.start(scope, { podCidr: '10.244.9.0/26', prefix: 'rf-' });
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
    const fresh = [await node.sandbox(), await node.sandbox()];
    const ips = [];
    for (const f of fresh) ips.push(resultIp(await node.runtime.addNetworkList(list, f)));
    const st = JSON.parse(await node.status('json')) as Status;
    const held = st.attachments.flatMap((a) => a.ips);
    r.nothingLost = reachable && !ips.includes(ip) && new Set(held).size === held.length && held.includes(ip);
    const log = (await node.log()).slice(logBefore);
    r.visible = /(WARN |ERROR) .*problem=/.test(log) && st.problems.length > 0;
    for (const f of [pod, ...fresh]) await node.runtime.delNetworkList(list, f);
    r.survived = r.nothingLost && !(JSON.parse(await node.status('json')) as Status).attachments.some((a) => a.ips.includes(ip));
    r.note = `reachable=${reachable} new=${ips.join(',')} problems=${st.problems.map((p) => p.id).join(',')}`;
  } finally {
    runs.push(r);
    // Each run starts from a clean agent: restart it so earlier problems are not counted again.
    await node.stopAgent('SIGKILL');
    await rm(join(node.stateDir(), 'quarantine'), { recursive: true, force: true });
    await node.startAgent();
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

test('attachment and address record of one pod both truncated at start', () =>
  runFault('attachment + address record truncated (start)', async (pod, ip) => {
    await damage(join(node.stateDir(), 'attachments', `${pod.containerId}_eth0.json`), 'truncated');
    await damage(join(node.stateDir(), 'ipam', ip), 'truncated');
  }));

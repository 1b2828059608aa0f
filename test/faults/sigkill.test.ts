// Fault injection: the agent SIGKILLed at seeded random points of CNI ADD, DEL and GC, then
// restarted; after each kill the runtime does what containerd does (DEL after a failed ADD, DEL
// and GC again when they failed) and the node must be exactly consistent: kernel, records, agent
// and runtime agree, every live pod is reachable, no address is handed out twice.
// TWILL_FAULT_SEED (default 13) replays a run; TWILL_FAULT_KILLS (default 32) sets its length
// (the cluster faults add the kills during policy apply and block claims: ≥ 50 in all).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CniPluginError } from '../../src/lab/cni-runtime.js';
import { TestScope } from '../support/scope.js';
import { NodeHarness, resultIp } from '../support/node-harness.js';
import { inconsistencies, prng, type LivePod } from './consistency.js';
import { recordRuns, type FaultRun } from './support.js';

const SEED = Number(process.env['TWILL_FAULT_SEED'] ?? 13);
const KILLS = Number(process.env['TWILL_FAULT_KILLS'] ?? 32);
const scope = new TestScope();
let node: NodeHarness;

before(async () => {
  node = await NodeHarness.start(scope, { podCidr: '10.244.11.0/26', prefix: 'rf-' });
});
after(() => scope.cleanup());

test(`agent SIGKILLed at random points of ADD, DEL and GC (seed ${SEED}, ${KILLS} kills)`, { timeout: 600_000 }, async () => {
  const rnd = prng(SEED);
  const list = node.conflist();
  const live = new Map<string, LivePod>();
  const sandboxes = new Map<string, Awaited<ReturnType<NodeHarness['sandbox']>>>();
  const runs: FaultRun[] = [];
  const valid = (): { containerID: string; ifname: string }[] => [...live.keys()].map((id) => ({ containerID: id, ifname: 'eth0' }));
  // A few pods to start with, so DEL and GC have something to work on.
  for (let i = 0; i < 3; i++) {
    const p = await node.sandbox();
    sandboxes.set(p.containerId, p);
    live.set(p.containerId, { containerId: p.containerId, name: p.name, ip: resultIp(await node.runtime.addNetworkList(list, p)) });
  }
  // Kills that landed while the agent was doing the operation, so its restart names it.
  let named = 0;
  for (let k = 0; k < KILLS; k++) {
    const r = rnd();
    const op = live.size < 3 || (r < 0.4 && live.size < 8) ? 'ADD' : r < 0.75 ? 'DEL' : 'GC';
    const delayMs = Math.floor(rnd() * 45);
    const fault = `SIGKILL during ${op}`;
    const run: FaultRun = { fault, survived: false, nothingLost: false, visible: false };
    let note = `kill ${k} seed ${SEED} delay ${delayMs} ms`;
    try {
      let work: Promise<unknown>;
      let target: string | undefined;
      if (op === 'ADD') {
        const p = await node.sandbox();
        sandboxes.set(p.containerId, p);
        target = p.containerId;
        work = node.runtime.addNetworkList(list, p).then((res) => live.set(p.containerId, { containerId: p.containerId, name: p.name, ip: resultIp(res) }));
      } else if (op === 'DEL') {
        target = [...live.keys()][Math.floor(rnd() * live.size)]!;
        work = node.runtime.delNetworkList(list, sandboxes.get(target)!);
      } else {
        // The runtime forgot one pod (its sandbox is gone): GC must remove it and nothing else.
        target = [...live.keys()][Math.floor(rnd() * live.size)]!;
        const keep = valid().filter((v) => v.containerID !== target);
        work = node.runtime.gcNetworkList(list, keep);
      }
      const settled = work.then(() => 'ok', (e: unknown) => (e instanceof CniPluginError ? `error ${e.cniCode ?? ''}` : `error ${String(e)}`));
      await new Promise((res) => setTimeout(res, delayMs));
      await node.stopAgent('SIGKILL');
      const logBefore = (await node.log()).length;
      const outcome = await settled;
      note += ` ${op} ${outcome}`;
      await node.startAgent();
      // The runtime's follow-up, as containerd does it.
      if (op === 'ADD' && outcome !== 'ok') await node.runtime.delNetworkList(list, sandboxes.get(target)!);
      if (op === 'DEL') {
        if (outcome !== 'ok') await node.runtime.delNetworkList(list, sandboxes.get(target)!);
        live.delete(target);
      }
      if (op === 'GC') {
        if (outcome !== 'ok') await node.runtime.gcNetworkList(list, valid().filter((v) => v.containerID !== target));
        live.delete(target);
      }
      const bad = await inconsistencies(node, live);
      run.nothingLost = bad.length === 0;
      run.survived = run.nothingLost;
      // A kill is visible as a warn line of the restarted agent naming what it interrupted and
      // what recovery repaired, and as a problem in twill status. It names only what was really
      // in flight: the operation this loop started (the kill may also land before the request
      // reached the agent, or after it answered: then nothing is named).
      const st = JSON.parse(await node.status('json')) as { problems: { id: string; message: string }[] };
      const line = (await node.log()).slice(logBefore).split('\n').find((l) => / WARN .*did not stop cleanly.*problem=restart-after-kill/.test(l)) ?? '';
      const want = op === 'GC' ? `GC network ${list.name}` : `${op} ${target}/eth0`;
      const running = /it was running: (.*?); start-up recovery/.exec(line)?.[1] ?? '';
      const namesRight = running === 'no operation in flight' || running === want;
      if (running === want) named++;
      run.visible = line !== '' && namesRight && st.problems.some((p) => p.id === 'restart-after-kill' && p.message.includes(running));
      note += ` named: ${running || '(no warn line)'}`;
      if (bad.length) note += `: ${bad.join('; ')}`;
    } catch (e) {
      note += `: threw ${String(e)}`;
    } finally {
      run.note = note;
      runs.push(run);
    }
    assert.ok(run.survived && run.visible, note);
  }
  recordRuns(runs);
  // The seeded delays put a good share of the kills inside the agent's work: if none is named,
  // the naming is broken, not the luck. How many land inside depends on the machine's load (a
  // rehearsal on a loaded 2-core machine named 7 of 32; quiet runs a third or more): at least one
  // in eight.
  assert.ok(named >= Math.ceil(KILLS / 8), `only ${named} of ${KILLS} restarts named the interrupted operation`);
  for (const id of [...live.keys()]) await node.runtime.delNetworkList(list, sandboxes.get(id)!);
});

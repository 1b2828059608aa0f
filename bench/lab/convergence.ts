// Node-join (and leave) convergence in a lab, as peers' kernels see it.
//   npm run bench:convergence -- [--nodes 5] [--joins 10] [--backend vxlan] [--lease-ttl 5] [--name lbconv]
// Prints one JSON object on stdout (progress on stderr).
//
// A `--nodes`-node lab runs; then, `--joins` times: a node joins (Lab.addNode: namespace, agent),
// and for every peer we take the time from the new node's TwillNode appearing in the datastore
// with its blocks (a watch in this process) to its block route appearing in that peer's kernel
// routing table (`ip -ts monitor route` in the peer's namespace: no polling, kernel-side
// timestamps). Then the node leaves: its agent is killed (SIGKILL, no goodbye) and its namespace
// removed, and for every peer we take the time from the kill to the route's withdrawal, which
// waits for the node's liveness lease to run out (≈ lease TTL), split into kill → TwillNode
// deleted and deleted → route withdrawn. The next join starts after every peer withdrew.
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { LAB_DEFAULTS, Lab } from '../../src/lab/lab.js';
import { claimBenchLab } from '../../src/lab/bench.js';
import { isBackendName } from '../../src/dataplane/routing/registry.js';
import type { Watch } from '../../src/datastore/store.js';
import type { BackendName } from '../../src/model/types.js';
import { describeError } from '../../src/util/errors.js';
import { JOIN_P99_FLOOR_MS, meetsJoinFloor, percentiles, phase, type PeerSample } from './convergence-report.js';
import { RouteMonitor } from './route-monitor.js';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5' },
    joins: { type: 'string', default: '10' },
    backend: { type: 'string', default: 'vxlan' },
    'lease-ttl': { type: 'string', default: String(LAB_DEFAULTS.leaseTtlSeconds) },
    name: { type: 'string', default: 'lbconv' },
  },
});
const NODES = Number(args.nodes);
const JOINS = Number(args.joins);
const TTL = Number(args['lease-ttl']);
const NAME = args.name;
if (!isBackendName(args.backend)) throw new Error(`--backend must be vxlan or host-gw, got "${args.backend}"`);
const BACKEND: BackendName = args.backend;
if (!(NODES >= 2 && NODES <= 20 && JOINS >= 1 && JOINS <= 100 && TTL >= 2 && TTL <= 60)) throw new Error('--nodes 2..20, --joins 1..100, --lease-ttl 2..60');

const log = (s: string) => console.error(s);
const round1 = (x: number) => Math.round(x * 10) / 10;
const JOIN_TIMEOUT_MS = 10_000;
const LEAVE_TIMEOUT_MS = TTL * 1000 + 15_000;

interface NodeEvent {
  name: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  at: number;
  blocks: string[];
}

/** Waits (in memory, checking every 5 ms) until `get` returns a value or the deadline passes. */
async function until<T>(get: () => T | undefined, deadline: number): Promise<T | undefined> {
  for (;;) {
    const v = get();
    if (v !== undefined || Date.now() > deadline) return v;
    await sleep(5);
  }
}

/** For each peer: when did it see every one of `blocks` added (or deleted) since `since`? */
async function peerTimes(monitors: Map<string, RouteMonitor>, blocks: string[], deleted: boolean, since: number, deadline: number): Promise<Map<string, number | undefined>> {
  const at = (m: RouteMonitor) => {
    const ts = blocks.map((b) => m.first(b, deleted, since)?.at);
    return ts.every((t) => t !== undefined) ? Math.max(...(ts as number[])) : undefined;
  };
  await until(() => ([...monitors.values()].every((m) => at(m) !== undefined) ? true : undefined), deadline);
  return new Map([...monitors].map(([peer, m]) => [peer, at(m)]));
}

async function main(): Promise<void> {
  let lab: Lab | undefined;
  let watch: Watch | undefined;
  const monitors = new Map<string, RouteMonitor>();
  let claimed = false;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const m of monitors.values()) await m.stop();
      watch?.stop();
      await lab?.close().catch(() => undefined);
      if (claimed) await Lab.down(NAME, log);
    })());
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Our own leftovers are removed; someone else's lab of that name is refused, not torn down.
    await claimBenchLab(NAME, (l) => Lab.down(l, () => undefined));
    claimed = true;
    log(`lab ${NAME}: ${NODES} nodes, ${BACKEND}, lease TTL ${TTL} s`);
    lab = await Lab.up({ ...LAB_DEFAULTS, name: NAME, nodes: NODES, backend: BACKEND, leaseTtlSeconds: TTL }, log);
    const store = await lab.store();
    const events: NodeEvent[] = [];
    const { revision } = await store.list('TwillNode');
    watch = store.watch('TwillNode', {
      fromRevision: revision,
      onEvent: (ev) => {
        if (ev.type !== 'RESYNC') events.push({ name: ev.object.metadata.name, type: ev.type, at: Date.now(), blocks: ev.object.spec.blocks });
      },
    });
    for (const n of lab.state.nodes) monitors.set(n.name, RouteMonitor.start(n.netns));
    await sleep(500);

    const join: PeerSample[] = [];
    const leave: PeerSample[] = [];
    const killToDeleted: number[] = [];
    const deletedToWithdrawn: number[] = [];
    for (let round = 1; round <= JOINS; round++) {
      const start = Date.now();
      const node = await lab.addNode(() => undefined);
      const added = await until(() => events.find((e) => e.name === node && e.type !== 'DELETED' && e.at >= start && e.blocks.length > 0), start + JOIN_TIMEOUT_MS);
      if (!added) throw new Error(`round ${round}: ${node}'s TwillNode with blocks did not appear within ${JOIN_TIMEOUT_MS} ms`);
      const seen = await peerTimes(monitors, added.blocks, false, start, added.at + JOIN_TIMEOUT_MS);
      for (const [peer, t] of seen) join.push({ round, peer, ms: t === undefined ? undefined : round1(t - added.at) });
      log(`round ${round}: ${node} joined (${added.blocks.join(', ')}): ${[...seen].map(([p, t]) => `${p} ${t === undefined ? 'MISSING' : `${(t - added.at).toFixed(1)} ms`}`).join(', ')}`);

      const kill = Date.now();
      await lab.removeNode(node);
      const gone = await until(() => events.find((e) => e.name === node && e.type === 'DELETED' && e.at >= kill), kill + LEAVE_TIMEOUT_MS);
      const withdrawn = await peerTimes(monitors, added.blocks, true, kill, kill + LEAVE_TIMEOUT_MS);
      if (gone) killToDeleted.push(gone.at - kill);
      for (const [peer, t] of withdrawn) {
        leave.push({ round, peer, ms: t === undefined ? undefined : round1(t - kill) });
        if (gone && t !== undefined) deletedToWithdrawn.push(t - gone.at);
      }
      log(`round ${round}: ${node} killed: TwillNode deleted after ${gone ? `${gone.at - kill} ms` : 'NEVER'}; routes withdrawn after ${[...withdrawn.values()].map((t) => (t === undefined ? 'MISSING' : `${Math.round(t - kill)} ms`)).join(', ')}`);
    }
    const j = phase(join);
    const l = phase(leave);
    const out = {
      benchmark: 'lab-convergence',
      lab: { nodes: NODES, backend: BACKEND, leaseTtlSeconds: TTL },
      joins: JOINS,
      join: { ...j, floorP99Ms: JOIN_P99_FLOOR_MS, meetsFloor: meetsJoinFloor(j), measures: 'TwillNode (with blocks) seen by a datastore watch → block route in each peer kernel' },
      leave: {
        ...l,
        measures: 'agent SIGKILL → block route withdrawn in each peer kernel',
        killToNodeDeletedMs: percentiles(killToDeleted),
        nodeDeletedToRouteWithdrawnMs: percentiles(deletedToWithdrawn),
      },
      samples: { join, leave },
    };
    console.log(JSON.stringify(out, null, 1));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup().catch((e: unknown) => log(`cleanup: ${describeError(e)}`));
  }
}

main().catch((e: unknown) => {
  console.error(`bench:convergence: ${describeError(e)}`);
  process.exitCode = 1;
});

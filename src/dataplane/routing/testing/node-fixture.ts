// A stand-in for the agent's routing loop, run inside a node namespace by the kernel tests:
//   ip netns exec NODE node --import tsx node-fixture.ts
// It reads one JSON request per stdin line and answers one JSON line on stdout, so a test pays
// Node's start-up once per node rather than once per apply. Its netlink socket lives in NODE.
import { createInterface } from 'node:readline';
import { describeError } from '../../../util/errors.js';
import { netlink } from '../../kernel/netlink.js';
import { applyNat, compileNat, type NatSnapshot } from '../../nat/index.js';
import { applyRouting, compileRouting, readRouting, type RoutingSnapshot } from '../index.js';

export type FixtureRequest =
  | { id: number; op: 'apply'; snapshot: RoutingSnapshot; nat?: NatSnapshot; runDir: string }
  | { id: number; op: 'read' };

async function handle(req: FixtureRequest): Promise<Record<string, unknown>> {
  if (req.op === 'read') return { state: await readRouting(netlink()) };
  const desired = compileRouting(req.snapshot);
  const summary = await applyRouting(desired);
  const nat = req.nat ? await applyNat(compileNat(req.nat), { runDir: req.runDir }) : undefined;
  return { summary, peerErrors: desired.peerErrors, podMTU: desired.podMTU, natChanged: nat?.changed };
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const req = JSON.parse(line) as FixtureRequest;
  handle(req).then(
    (r) => process.stdout.write(JSON.stringify({ id: req.id, ok: true, ...r }) + '\n'),
    (e: unknown) => process.stdout.write(JSON.stringify({ id: req.id, ok: false, error: describeError(e) }) + '\n'),
  );
});
rl.on('close', () => process.exit(0));

// Seeded differential test: for random clusters and flows, the evaluator's verdict must equal the
// tracer's walk through the compiled rulesets of the nodes the flow crosses (source node AND
// destination node), including which policy the dataplane credits. And for random changes,
// the incremental diff applied to the old ruleset must give exactly the freshly compiled one.
// Reproduce a failure with POLICY_SEED=<seed> (printed on failure); POLICY_RUNS=<n> runs more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy, policyObjectName, PolicyCompiler } from './compile.js';
import { diffModels } from './diff.js';
import { evaluateIndexed, formatRuleRef, type Flow, type ResolvedEnd, type Verdict } from './evaluate.js';
import { NftFake } from './nft-fake.js';
import { renderFullReplace, renderTable } from './render.js';
import { indexSnapshot } from './snapshot.js';
import { crossing, tracePacket, type TraceResult } from './tracer.js';
import { validateNetworkPolicy } from './validate.js';
import { ifaceOf, mutateWorld, randomFlow, randomWorld, Rng, snapshotFor, type World } from './testing/world.js';

const SEED = Number(process.env['POLICY_SEED'] ?? 20240611);
const RUNS = Number(process.env['POLICY_RUNS'] ?? 100);
const FLOWS_PER_WORLD = 40;
const TABLE = 'twill-policy';
const NODES = ['n1', 'n2', 'n3'];
const PROTO: Record<Flow['protocol'], number> = { TCP: 6, UDP: 17, SCTP: 132, ICMP: 1 };

function fakeFor(w: World, node: string): NftFake {
  const f = new NftFake();
  f.apply(renderFullReplace(compilePolicy(snapshotFor(w, node))));
  return f;
}

function nodeOf(e: ResolvedEnd): string | undefined {
  return e.kind === 'pod' || e.kind === 'host' ? e.node : undefined;
}

function traceOnNode(w: World, fakes: Map<string, NftFake>, node: string, v: Verdict, flow: Flow): TraceResult | undefined {
  const local = (e: ResolvedEnd): string | undefined => (e.kind === 'pod' && e.node === node ? ifaceOf({ namespace: e.pod.split('/')[0]!, name: e.pod.split('/')[1]! }) : undefined);
  const c = crossing({
    fromHost: v.src.kind === 'host' && v.src.node === node,
    toHost: v.dst.kind === 'host' && v.dst.node === node,
    ...(local(v.src) ? { srcIface: local(v.src)! } : {}),
    ...(local(v.dst) ? { dstIface: local(v.dst)! } : {}),
  });
  if (!c) return undefined;
  let fake = fakes.get(node);
  if (!fake) {
    fake = fakeFor(w, node);
    fakes.set(node, fake);
  }
  const icmp = flow.protocol === 'ICMP' && v.src.ip.includes(':') ? 58 : PROTO[flow.protocol];
  return tracePacket(fake, { saddr: v.src.ip, daddr: v.dst.ip, l4proto: icmp, dport: flow.port ?? 0, ...(c.iifname ? { iifname: c.iifname } : {}), ...(c.oifname ? { oifname: c.oifname } : {}) }, c.hooks);
}

function checkWorld(w: World, rng: Rng, where: string): number {
  for (const p of w.policies) assert.deepEqual(validateNetworkPolicy(p), [], `${where}: generator made an invalid policy`);
  const idx = indexSnapshot(snapshotFor(w, w.nodes[0]!));
  const fakes = new Map<string, NftFake>();
  let checked = 0;
  for (let i = 0; i < FLOWS_PER_WORLD; i++) {
    const flow = randomFlow(rng, w);
    const v = evaluateIndexed(idx, flow);
    const nodes = [...new Set([nodeOf(v.src), nodeOf(v.dst)].filter((n): n is string => n !== undefined))];
    if (nodes.length === 0) continue;
    const traces = nodes.map((n) => ({ n, t: traceOnNode(w, fakes, n, v, flow) }));
    const dataplane = traces.every((x) => !x.t || x.t.verdict === 'accept');
    const detail = () => `${where} flow ${i}: ${JSON.stringify(flow)}\n${v.explanation}\n${traces.map((x) => `${x.n}: ${x.t?.verdict} via ${x.t?.path.join(' > ')} (${x.t?.decidedBy})`).join('\n')}`;
    assert.equal(dataplane, v.allowed, detail());
    // The policy the counters credit is the evaluator's deciding rule's policy.
    for (const [dir, side, node] of [['egress', v.egress, nodeOf(v.src)], ['ingress', v.ingress, nodeOf(v.dst)]] as const) {
      if (side.reason !== 'allowed-by-rule' || !v.allowed) continue;
      const t = traces.find((x) => x.n === node)?.t;
      const want = policyObjectName(side.deciding!.policy, dir);
      assert.ok(t?.path.includes(want), `${detail()}\nexpected ${dir} credited to ${formatRuleRef(side.deciding!)} (${want})`);
    }
    checked++;
  }
  return checked;
}

function checkDiff(a: World, b: World, where: string): void {
  for (const node of new Set([...a.nodes, ...b.nodes])) {
    const ma = compilePolicy(snapshotFor(a, node));
    const mb = compilePolicy(snapshotFor(b, node));
    const inc = new NftFake();
    inc.apply(renderFullReplace(ma));
    const d = diffModels(ma, mb);
    try {
      inc.apply(d.script);
    } catch (e) {
      assert.fail(`${where} node ${node}: the diff does not apply: ${(e as Error).message}\n${d.script}`);
    }
    const fresh = new NftFake();
    fresh.apply(renderFullReplace(mb));
    assert.equal(inc.dump(TABLE), fresh.dump(TABLE), `${where} node ${node}: diff result differs from a fresh full apply`);
    assert.equal(diffModels(mb, mb).script, '', `${where}: a model diffed with itself must be empty`);
  }
}

test(`a long-lived PolicyCompiler always compiles exactly what a fresh compile does (seed ${SEED})`, () => {
  for (let run = 0; run < Math.ceil(RUNS / 5); run++) {
    const seed = SEED + 100_000 + run;
    const rng = new Rng(seed);
    let w = randomWorld(rng);
    const compilers = new Map(NODES.map((n) => [n, new PolicyCompiler()]));
    for (let step = 0; step < 12; step++) {
      for (const node of w.nodes) {
        const s = snapshotFor(w, node);
        assert.equal(renderTable(compilers.get(node)!.compile(s)), renderTable(compilePolicy(s)), `POLICY_SEED=${seed - 100_000} (memo) step ${step} node ${node}`);
      }
      // Mostly policy-only changes (the memo's fast path), sometimes pods and labels too.
      w = rng.bool(0.6) ? { ...w, policies: mutateWorld(rng, w).policies } : mutateWorld(rng, w);
    }
  }
});

test(`evaluator == tracer(compiled rulesets) on random clusters (seed ${SEED}, ${RUNS} worlds)`, () => {
  let flows = 0;
  for (let run = 0; run < RUNS; run++) {
    const seed = SEED + run;
    const where = `POLICY_SEED=${seed} POLICY_RUNS=1`;
    const rng = new Rng(seed);
    const w = randomWorld(rng);
    flows += checkWorld(w, rng, where);
    const w2 = mutateWorld(rng, w);
    checkDiff(w, w2, where);
    flows += checkWorld(w2, rng, `${where} (after mutation)`);
  }
  assert.ok(flows > RUNS * FLOWS_PER_WORLD, `too few flows crossed a node (${flows})`);
});

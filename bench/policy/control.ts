// Control-plane measurements: compile + full apply, and one-policy-changed incremental updates,
// each timed until `nft -f` returns (the kernel has committed the transaction).
import { applyNft, nftScriptPath } from '../../src/dataplane/kernel/index.js';
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from '../../src/model/types.js';
import { compilePolicy, PolicyCompiler, PolicyDataplane, renderFullReplace, type PolicySnapshot } from '../../src/policy/index.js';
import { Rng } from '../../src/policy/testing/world.js';

export interface Stats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => round(s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN);
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(s[s.length - 1] ?? NaN) };
}

export const round = (x: number): number => Math.round(x * 10) / 10;
/** The median, unrounded (upper middle for an even count, as `stats` does). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(s.length / 2) - 1)] ?? NaN;
}

export interface FullApply {
  compileMs: number[];
  applyMs: number[];
  totalMs: number[];
  ruleset: { sets: number; chains: number; counters: number; elements: number; groups: number; bytes: number };
}

/** Fresh compile (no memo) + one full-replacement transaction, `reps` times. */
export async function measureFull(snapshot: PolicySnapshot, netnsPath: string, runDir: string, reps: number): Promise<FullApply> {
  const out: FullApply = { compileMs: [], applyMs: [], totalMs: [], ruleset: { sets: 0, chains: 0, counters: 0, elements: 0, groups: 0, bytes: 0 } };
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const model = compilePolicy(snapshot);
    const script = renderFullReplace(model);
    const t1 = performance.now();
    await applyNft(script, { file: nftScriptPath(runDir, 'twill-policy'), netnsPath });
    const t2 = performance.now();
    out.compileMs.push(round(t1 - t0));
    out.applyMs.push(round(t2 - t1));
    out.totalMs.push(round(t2 - t0));
    out.ruleset = {
      sets: model.sets.length,
      chains: model.chains.length,
      counters: model.counters.length,
      elements: model.sets.reduce((a, s) => a + s.elements.length, 0),
      groups: model.info.groups.length,
      bytes: Buffer.byteLength(script),
    };
  }
  return out;
}

/**
 * One realistic edit of a policy, in a direction the policy applies to on this node: a port
 * opened, a rule removed, an ipBlock peer added, or the pod selector narrowed.
 */
export function editPolicy(p: NetworkPolicy, dirs: ('ingress' | 'egress')[], i: number): NetworkPolicy {
  const spec = structuredClone(p.spec);
  const dir = dirs[i % dirs.length]!;
  // Ingress and egress rules differ only in the name of the peer list; edit them as one shape.
  type Rule = { from?: NetworkPolicyPeer[]; to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] };
  const rules: Rule[] = (dir === 'ingress' ? spec.ingress : spec.egress) ?? [];
  const set = (r: Rule[]): void => {
    if (dir === 'ingress') spec.ingress = r;
    else spec.egress = r;
  };
  switch (i % 4) {
    case 0:
      set([...rules, { ports: [{ port: 20000 + i }] }]);
      break;
    case 1:
      set(rules.length > 0 ? rules.slice(1) : [{ ports: [{ port: 21000 + i }] }]);
      break;
    case 2: {
      const peer = { ipBlock: { cidr: `203.0.113.${(i * 4) % 256}/30` } };
      set([...rules, dir === 'ingress' ? { from: [peer], ports: [{ port: 443 }] } : { to: [peer], ports: [{ port: 443 }] }]);
      break;
    }
    default:
      spec.podSelector = { ...spec.podSelector, matchLabels: { ...(spec.podSelector.matchLabels ?? {}), version: 'v0' } };
  }
  return { ...p, spec };
}

export interface Incremental {
  /** Changes that changed this node's ruleset (the ones measured). */
  changes: number;
  /** Edits that left this node's ruleset as it was (not measured; a new edit was drawn). */
  noEffect: number;
  /** Edit known → nft returned: compile (memoised) + diff + transaction. */
  totalMs: Stats;
  compileMs: Stats;
  /** Diff + the transaction (netlink batch or `nft -f`) until the kernel has committed it. */
  nftMs: Stats;
  scriptBytes: Stats;
  /** How the measured changes reached the kernel, and why any went through nft -f. */
  via: { netlink: number; nft: number; fallbacks: string[] };
}

/** `changes` single-policy edits that change this node's ruleset, each compiled and applied. */
export async function measureIncremental(base: PolicySnapshot, netnsPath: string, runDir: string, changes: number, opts: { netlink: boolean }): Promise<Incremental> {
  const rng = new Rng(7);
  const compiler = new PolicyCompiler();
  const dp = new PolicyDataplane({ runDir, netnsPath, netlink: opts.netlink });
  const via = { netlink: 0, nft: 0, fallbacks: new Set<string>() };
  let snap = base;
  let model = compiler.compile(snap);
  await dp.apply(model, { full: true });
  const total: number[] = [];
  const compile: number[] = [];
  const nft: number[] = [];
  const bytes: number[] = [];
  let noEffect = 0;
  for (let i = 0; total.length < changes && i < changes * 5; i++) {
    // A policy that selects a pod on this node, edited in a direction it applies to here.
    const local = model.info.policies;
    const target = local[rng.int(0, local.length - 1)]!;
    const dirs = (['ingress', 'egress'] as const).filter((d) => target[d] !== undefined);
    const k = snap.policies.findIndex((p) => `${p.metadata.namespace}/${p.metadata.name}` === target.policy);
    const policies = [...snap.policies];
    policies[k] = editPolicy(policies[k]!, [...dirs], i);
    snap = { ...snap, policies };
    const t0 = performance.now();
    model = compiler.compile(snap);
    const t1 = performance.now();
    const r = await dp.apply(model);
    const t2 = performance.now();
    if (r.mode === 'unchanged') {
      noEffect++;
      continue;
    }
    if (r.via) via[r.via]++;
    if (r.fallback) via.fallbacks.add(r.fallback);
    total.push(t2 - t0);
    compile.push(t1 - t0);
    nft.push(t2 - t1);
    bytes.push(r.bytes);
  }
  dp.close();
  return { changes: total.length, noEffect, totalMs: stats(total), compileMs: stats(compile), nftMs: stats(nft), scriptBytes: stats(bytes), via: { ...via, fallbacks: [...via.fallbacks] } };
}

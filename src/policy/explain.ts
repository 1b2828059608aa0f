// Verdicts and counters for people: `explain` formats what the evaluator decided, and
// `policyCounters` reads `nft -j list table inet twill-policy` back into per-policy numbers
// (each counting chain holds one anonymous rule counter; the chain's name identifies it).
//
// Attribution: an allowed packet is counted once, for the policy the dataplane credits (the
// first matching policy in namespace/name order, the evaluator's `deciding` rule). A dropped
// packet is counted for EVERY policy of the pod's group: each of them isolates the pod and
// none allowed the packet, so each is "a reason" for the drop.
import { describeEnd, formatRuleRef, type SideVerdict, type Verdict } from './evaluate.js';
import type { CompileInfo } from './model.js';

function side(label: string, s: SideVerdict): string {
  switch (s.reason) {
    case 'not-a-pod':
      return `${label}: not a pod, no policy applies`;
    case 'self':
      return `${label}: allowed, a pod may always reach itself`;
    case 'node-local':
      return `${label}: allowed, traffic between a pod and its own node is never filtered`;
    case 'not-isolated':
      return `${label}: allowed, no policy selects the pod`;
    case 'allowed-by-rule': {
      const also = s.matches.length > 1 ? `\n      also matching: ${s.matches.slice(1).map(formatRuleRef).join('; ')}` : '';
      return `${label}: allowed by ${formatRuleRef(s.deciding!)}\n      isolated by: ${s.policies.join(', ')}${also}`;
    }
    case 'no-rule-matched':
      return `${label}: DENIED, no rule of ${s.policies.join(', ')} allows it`;
  }
}

/** A verdict as a few lines of text: headline, one line per side, then the paragraph. */
export function explain(v: Verdict): string {
  const head = `${v.allowed ? 'ALLOWED' : 'DENIED'}  ${describeEnd(v.src)} → ${describeEnd(v.dst)} ${v.protocol}${v.port !== undefined ? `/${v.port}` : ''}`;
  return [head, `  ${side('egress ', v.egress)}`, `  ${side('ingress', v.ingress)}`, '', v.explanation, ''].join('\n');
}

export interface Count {
  packets: number;
  bytes: number;
}

export interface PolicyCounters {
  policy: string;
  ingressAllowed: Count;
  egressAllowed: Count;
  ingressDropped: Count;
  egressDropped: Count;
}

export interface CounterReport {
  policies: PolicyCounters[];
  /** Packets dropped by anti-spoofing. */
  spoofed: Count;
}

type NftJson = {
  nftables?: {
    counter?: { name?: string; packets?: number; bytes?: number };
    rule?: { chain?: string; expr?: { counter?: { packets?: number; bytes?: number } | null }[] };
  }[];
};

/** Counts per name: a named counter object by its name, the counters inside a chain's rules by the chain's name (summed). */
function readCounters(json: unknown): Map<string, Count> {
  const out = new Map<string, Count>();
  const bump = (name: string, c: { packets?: number; bytes?: number }): void => {
    const cur = out.get(name) ?? { packets: 0, bytes: 0 };
    cur.packets += c.packets ?? 0;
    cur.bytes += c.bytes ?? 0;
    out.set(name, cur);
  };
  for (const o of (json as NftJson | undefined)?.nftables ?? []) {
    if (o.counter?.name !== undefined) bump(o.counter.name, o.counter);
    const r = o.rule;
    if (r?.chain === undefined) continue;
    for (const e of r.expr ?? []) if (e.counter) bump(r.chain, e.counter);
  }
  return out;
}

const zero = (): Count => ({ packets: 0, bytes: 0 });
const add = (a: Count, b: Count | undefined): void => {
  a.packets += b?.packets ?? 0;
  a.bytes += b?.bytes ?? 0;
};

/**
 * Per-policy numbers from `nft -j list table inet twill-policy`, using the
 * names recorded by the compile that produced the ruleset. Policies selecting no local pod have
 * no counters on this node and are not listed.
 */
export function policyCounters(json: unknown, info: CompileInfo): CounterReport {
  const counters = readCounters(json);
  const byPolicy = new Map<string, PolicyCounters>();
  const entry = (policy: string): PolicyCounters => {
    let e = byPolicy.get(policy);
    if (!e) {
      e = { policy, ingressAllowed: zero(), egressAllowed: zero(), ingressDropped: zero(), egressDropped: zero() };
      byPolicy.set(policy, e);
    }
    return e;
  };
  for (const p of info.policies) {
    const e = entry(p.policy);
    if (p.ingress) add(e.ingressAllowed, counters.get(p.ingress));
    if (p.egress) add(e.egressAllowed, counters.get(p.egress));
  }
  for (const g of info.groups) {
    for (const p of g.policies) add(g.direction === 'ingress' ? entry(p).ingressDropped : entry(p).egressDropped, counters.get(g.name));
  }
  return { policies: [...byPolicy.values()].sort((a, b) => (a.policy < b.policy ? -1 : 1)), spoofed: counters.get(info.spoofCounter) ?? zero() };
}

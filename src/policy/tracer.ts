// Walks one packet through rulesets held by an NftFake: base chains per hook in priority order,
// rule by rule, with nft's jump/goto/return semantics (a chain reached by goto returns to the
// caller of the chain that did the goto), set and concatenated-interval lookups, verdict maps,
// and every new packet in conntrack state `new` unless told otherwise. Used by tests only.
import { tryParseIp, type Family } from '../util/ip.js';
import type { NftFake, FakeTable } from './nft-fake.js';
import type { ElementAst, Expr, Rhs, Selector, Value, Verdict } from './nft-parse.js';

export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

export interface Packet {
  iifname?: string;
  oifname?: string;
  saddr: string;
  daddr: string;
  /** IP protocol number (6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6). */
  l4proto: number;
  /** The 16 bits at the destination-port offset (for ICMP, whatever the header holds there). */
  dport: number;
  ct?: 'new' | 'established' | 'related' | 'invalid';
}

export interface TraceResult {
  verdict: 'accept' | 'drop';
  /** Chains entered, in order. */
  path: string[];
  /** Text of the rule that gave the final verdict, or `policy` of a base chain. */
  decidedBy?: string;
  /** Counters bumped, in order: a named counter by its name, a rule's anonymous counter by its chain's name. */
  counters: string[];
}

const MAX_STEPS = 10_000;

type PV = { kind: 'str'; s: string } | { kind: 'num'; v: bigint; family?: Family };

function select(sel: Selector, p: Packet, fam: Family): PV | undefined {
  switch (sel) {
    case 'iifname':
      return { kind: 'str', s: p.iifname ?? '' };
    case 'oifname':
      return { kind: 'str', s: p.oifname ?? '' };
    case 'ip saddr':
    case 'ip6 saddr':
    case 'ip daddr':
    case 'ip6 daddr': {
      // The implicit `meta nfproto` dependency: an ip selector never matches an ip6 packet.
      if ((sel.startsWith('ip6') ? 6 : 4) !== fam) return undefined;
      const a = tryParseIp(sel.endsWith('saddr') ? p.saddr : p.daddr)!;
      return { kind: 'num', v: a.value, family: a.family };
    }
    case 'meta l4proto':
      return { kind: 'num', v: BigInt(p.l4proto) };
    case 'meta nfproto':
      return { kind: 'str', s: fam === 4 ? 'ipv4' : 'ipv6' };
    case 'th dport':
      return { kind: 'num', v: BigInt(p.dport) };
    case 'ct state':
      return { kind: 'str', s: p.ct ?? 'new' };
  }
}

function valueMatches(pv: PV, pat: Value): boolean {
  if (pat.kind === 'str') {
    if (pv.kind !== 'str') return false;
    return pat.s.endsWith('*') ? pv.s.startsWith(pat.s.slice(0, -1)) : pv.s === pat.s;
  }
  if (pv.kind !== 'num') return false;
  if (pat.family !== undefined && pv.family !== undefined && pat.family !== pv.family) return false;
  return pv.v >= pat.lo && pv.v <= pat.hi;
}

const keyMatches = (key: PV[], el: ElementAst): boolean => el.key.length === key.length && key.every((k, i) => valueMatches(k, el.key[i]!));

function lookup(t: FakeTable, rhs: Rhs, key: PV[]): ElementAst | undefined {
  if (rhs.kind === 'values') return rhs.values.some((v) => key.length === 1 && valueMatches(key[0]!, v)) ? { key: [] } : undefined;
  const els = rhs.kind === 'anon' ? rhs.elements : (t.sets.get(rhs.name)?.elements ?? []);
  return els.find((el) => keyMatches(key, el));
}

type Outcome = { kind: 'continue' } | { kind: 'verdict'; verdict: Verdict };

/** Evaluates one rule: its matches in order, then its statements; stops at the first verdict. */
function runRule(t: FakeTable, chainName: string, exprs: Expr[], p: Packet, fam: Family, counters: string[]): Outcome {
  for (const e of exprs) {
    if (e.kind === 'counter') {
      if (e.name !== undefined) t.counters.get(e.name)!.packets++;
      counters.push(e.name ?? chainName);
      continue;
    }
    if (e.kind === 'verdict') return { kind: 'verdict', verdict: e.verdict };
    const key = e.lhs.map((s) => select(s, p, fam));
    if (key.some((k) => k === undefined)) return { kind: 'continue' };
    const hit = lookup(t, e.kind === 'vmap' ? e.map : e.rhs, key as PV[]);
    if (e.kind === 'vmap') {
      if (hit?.verdict) return { kind: 'verdict', verdict: hit.verdict };
      return { kind: 'continue' };
    }
    if ((hit !== undefined) !== (e.op === '==')) return { kind: 'continue' };
  }
  return { kind: 'continue' };
}

function runBaseChain(t: FakeTable, base: string, p: Packet, fam: Family, res: TraceResult): 'accept' | 'drop' {
  const frames: { chain: string; pc: number }[] = [{ chain: base, pc: 0 }];
  res.path.push(base);
  for (let steps = 0; steps < MAX_STEPS; steps++) {
    const f = frames[frames.length - 1];
    if (!f) break;
    const chain = t.chains.get(f.chain);
    if (!chain) throw new Error(`trace: chain ${f.chain} does not exist`);
    const rule = chain.rules[f.pc++];
    if (!rule) {
      frames.pop(); // end of chain: implicit return
      continue;
    }
    const out = runRule(t, f.chain, rule.exprs, p, fam, res.counters);
    if (out.kind === 'continue') continue;
    const v = out.verdict;
    if (v.kind === 'accept' || v.kind === 'drop') {
      res.decidedBy = `${f.chain}: ${rule.text}`;
      return v.kind;
    }
    if (!('target' in v)) frames.pop(); // return
    else {
      if (frames.length > 16) throw new Error('trace: jump stack too deep (a loop?)');
      if (v.kind === 'goto') frames.pop();
      frames.push({ chain: v.target, pc: 0 });
      res.path.push(v.target);
    }
  }
  if (frames.length) throw new Error(`trace: more than ${MAX_STEPS} steps`);
  const policy = t.chains.get(base)!.spec.hook!.policy;
  res.decidedBy = `${base}: policy ${policy}`;
  return policy;
}

/** Runs the packet through `hooks` in order across every table; the first drop ends it. */
export function tracePacket(fake: NftFake, p: Packet, hooks: Hook[]): TraceResult {
  const fam = tryParseIp(p.saddr)?.family;
  if (!fam || tryParseIp(p.daddr)?.family !== fam) throw new Error(`trace: bad addresses ${p.saddr} → ${p.daddr}`);
  const res: TraceResult = { verdict: 'accept', path: [], counters: [] };
  for (const hook of hooks) {
    const bases: { t: FakeTable; name: string; prio: number }[] = [];
    for (const t of fake.tables.values()) {
      for (const c of t.chains.values()) if (c.spec.hook?.hook === hook) bases.push({ t, name: c.name, prio: c.spec.hook.priority });
    }
    for (const b of bases.sort((x, y) => x.prio - y.prio)) {
      if (runBaseChain(b.t, b.name, p, fam, res) === 'drop') {
        res.verdict = 'drop';
        return res;
      }
    }
  }
  return res;
}

/** Where a packet meets one node: which hooks, and through which interfaces. */
export interface NodeCrossing {
  /** The source is this node's own host network (locally generated). */
  fromHost?: boolean;
  /** The destination is this node's own host network (locally delivered). */
  toHost?: boolean;
  /** Host-side veth of the source pod when it is local; otherwise the packet arrives from the uplink. */
  srcIface?: string;
  dstIface?: string;
  /** Name of the uplink (VXLAN device or underlay NIC). */
  uplink?: string;
}

/** The hooks and interfaces of a packet crossing a node, or undefined if it never meets it. */
export function crossing(c: NodeCrossing): { hooks: Hook[]; iifname?: string; oifname?: string } | undefined {
  const uplink = c.uplink ?? 'eth0';
  if (c.fromHost && c.toHost) return { hooks: ['output', 'input'] };
  if (c.fromHost) return { hooks: ['output', 'postrouting'], oifname: c.dstIface ?? uplink };
  if (c.toHost) return { hooks: ['prerouting', 'input'], iifname: c.srcIface ?? uplink };
  if (!c.srcIface && !c.dstIface) return undefined;
  return { hooks: ['prerouting', 'forward', 'postrouting'], iifname: c.srcIface ?? uplink, oifname: c.dstIface ?? uplink };
}

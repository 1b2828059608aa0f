// snapshot → the whole `inet twill-policy` table, as a model (see README.md for the layout).
// Pure: no clock, no I/O, no logging. Per-packet work is a fixed number of lookups whatever the
// number of policies: the volume lives in map elements, one interval map per group of local pods
// that share their selecting policies (and, for ingress, their named-port numbers).
//
// `PolicyCompiler` remembers, by content fingerprint, what it computed last time (rule targets,
// each pod's selecting policies, each group's elements), so when one policy changes only the
// groups that policy touches are recomputed. Its output is always exactly `compilePolicy`'s.
import { createHash } from 'node:crypto';
import type { NetworkPolicy } from '../model/types.js';
import { HOST_VETH_PREFIX, NFT_TABLE_POLICY } from '../dataplane/kernel/names.js';
import type { Family } from '../util/ip.js';
import { assignGroups, DIRS, groupElements, hash12, sfx, type Group } from './groups.js';
import { selectorMatches } from '../model/labels.js';
import type { GroupInfo, NftChain, NftElement, NftSet, PolicyModel, PolicyObjects } from './model.js';
import { addrType, ipKeyword, nftComment } from './nft-format.js';
import { checkLocalEndpoints, effectivePolicyTypes, indexSnapshot, podKey, policyKey, type IndexedPod, type LocalEndpoint, type PolicySnapshot, type SnapshotIndex } from './snapshot.js';
import { rulesOf, ruleTarget, type Dir, type PodAddr, type RuleTarget } from './targets.js';

export interface CompileOptions {
  /** Table name (default twill-policy). */
  table?: string;
  /** Flow records: NFLOG the decisions on new connections and drops (default: no log rules). */
  log?: FlowLogOptions;
}

/**
 * NFLOG rules in the decision paths that drop: each group's default deny and anti-spoofing's
 * drop. Every rule has its own token bucket, so a flood of drops cannot flood the agent. Accepted
 * connections are not logged: conntrack's NEW event already reports each one, and the evaluator
 * names its deciding rule; an accept log cost every new connection a second message (kernel work
 * in the connection's path, and agent work) for nothing a record used.
 */
export interface FlowLogOptions {
  group: number;
  /** Packets per second per rule, and the burst above it. */
  rate: number;
  burst: number;
}

/** NFLOG prefixes: "twill <D|S> <chain>" — dropped by a group chain, dropped as spoofed ("A", allowed by a policy chain, is no longer written). */
export const FLOW_LOG_PREFIX = 'twill';
export const SPOOF_LOG_CHAIN = 'antispoof_log';
export function flowLogRule(o: FlowLogOptions, kind: 'A' | 'D' | 'S', chain: string): string {
  return `limit rate ${o.rate}/second burst ${o.burst} packets log prefix "${FLOW_LOG_PREFIX} ${kind} ${chain}" group ${o.group}`;
}

/** The chain whose rule counters count packets dropped by anti-spoofing. */
export const SPOOF_COUNTER = 'antispoof';
const FAMILIES: Family[] = [4, 6];

/** Chain and counter name of a policy's allowed traffic in one direction. */
export function policyObjectName(key: string, dir: Dir): string {
  return `${dir === 'egress' ? 'pe' : 'pi'}_${hash12(key)}`;
}

const fpCache = new WeakMap<object, string>();
/** A content fingerprint, memoised per object (snapshots reuse objects from the agent's cache). */
function fp(o: object): string {
  let v = fpCache.get(o);
  if (v === undefined) {
    // 15 bytes are exactly 20 base64 characters: a flat string of its own, where slicing the
    // digest's text kept a 28-character parent alive per pod (2.4 MB at 30,000 pods).
    v = createHash('sha1').update(JSON.stringify(o)).digest().toString('base64', 0, 15);
    fpCache.set(o, v);
  }
  return v;
}

/** What one namespace's local pods contribute to the table (groups never span namespaces: policies are namespaced). */
interface NamespacePart {
  endpoints: Record<Family, NftElement[]>;
  /** Dispatch map name → (address, element), unsorted. */
  dispatch: Map<string, { v: bigint; e: NftElement }[]>;
  sets: NftSet[];
  chains: NftChain[];
  groups: GroupInfo[];
  /** Policy key → directions it has a group in. */
  polDirs: Map<string, Set<Dir>>;
}

/** What one compile leaves for the next. */
interface Memo {
  /** Fingerprint of namespaces and pods: rule targets and group elements depend on them. */
  world: string;
  targets: Map<string, RuleTarget>;
  elements: Map<string, { key: string; elements: NftElement[] }>;
  /** Per pod: its selecting policies (depend on the pod and its namespace's policies only). */
  selection: Map<string, { key: string; sel: Record<Dir, NetworkPolicy[]> }>;
  /** The index of pods and namespaces, and their sorted addresses (valid while `world` is unchanged). */
  index?: SnapshotIndex;
  addrs?: Map<Family, PodAddr[]>;
  /** Per group identity and per policy object: the nft objects, reused so the diff can skip them. */
  objects: Map<string, { set?: NftSet; chain: NftChain }>;
  /** Per namespace: its part, valid while the world, its policies and its local endpoints are unchanged. */
  parts: Map<string, { key: string; part: NamespacePart }>;
}

/** Entries a memo may hold before it is started afresh (stale entries accumulate while the world is unchanged). */
const MEMO_LIMIT = 200_000;

function worldFingerprint(s: PolicySnapshot): string {
  const h = createHash('sha1');
  for (const n of s.namespaces) h.update(fp(n));
  const pods = s.pods.map((p) => `${podKey(p)}=${fp(p)}`).sort();
  for (const p of pods) h.update(p);
  return h.digest('base64');
}

class Compilation {
  private readonly idx: SnapshotIndex;
  private readonly byNs = new Map<string, NetworkPolicy[]>();
  private readonly nsKey = new Map<string, string>();
  readonly next: Memo;
  /** The previous compile's world-independent entries (consulted when the world changed). */
  private readonly prevSelection: Memo['selection'] | undefined;
  private readonly prevObjects: Memo['objects'] | undefined;

  constructor(
    private readonly snapshot: PolicySnapshot,
    prev: Memo | undefined,
    private readonly log: FlowLogOptions | undefined,
  ) {
    const world = worldFingerprint(snapshot);
    // Pods and namespaces unchanged (the common case: a policy changed): the last compile's
    // memos stay valid and are carried on in place; only what the change touches is recomputed.
    const same = prev?.world === world && prev.targets.size + prev.objects.size < MEMO_LIMIT ? prev : undefined;
    this.idx = same?.index ? { ...same.index, policies: [...snapshot.policies].sort((a, b) => (policyKey(a) < policyKey(b) ? -1 : 1)) } : indexSnapshot(snapshot);
    checkLocalEndpoints(this.idx, snapshot.localEndpoints);
    for (const p of this.idx.policies) {
      const list = this.byNs.get(p.metadata.namespace) ?? [];
      list.push(p);
      this.byNs.set(p.metadata.namespace, list);
    }
    for (const [ns, list] of this.byNs) this.nsKey.set(ns, list.map((p) => `${policyKey(p)}=${fp(p.spec)}`).join(','));
    this.next = same
      ? { ...same, index: this.idx }
      : { world, targets: new Map(), elements: new Map(), selection: new Map(), index: this.idx, addrs: new Map(), objects: new Map(), parts: new Map() };
    this.prevSelection = same ? undefined : prev?.selection;
    this.prevObjects = same ? undefined : prev?.objects;
  }

  private logRule(kind: 'D', chain: string): string[] {
    return this.log ? [flowLogRule(this.log, kind, chain)] : [];
  }

  /** Reuses the objects of the last compile when `key` (their whole input) is unchanged. */
  private objects(key: string, make: () => { set?: NftSet; chain: NftChain }): { set?: NftSet; chain: NftChain } {
    const hit = this.next.objects.get(key) ?? this.prevObjects?.get(key);
    const v = hit ?? make();
    this.next.objects.set(key, v);
    return v;
  }

  /** The policies selecting a pod, per direction (cached by pod labels and namespace policies). */
  private selecting = (pod: IndexedPod): Record<Dir, NetworkPolicy[]> => {
    const key = `${fp(pod.labels)}|${this.nsKey.get(pod.namespace) ?? ''}`;
    const hit = this.next.selection.get(pod.key) ?? this.prevSelection?.get(pod.key);
    if (hit && hit.key === key) {
      this.next.selection.set(pod.key, hit);
      return hit.sel;
    }
    const pols = this.byNs.get(pod.namespace) ?? [];
    const pick = (type: 'Ingress' | 'Egress'): NetworkPolicy[] => pols.filter((p) => effectivePolicyTypes(p).includes(type) && selectorMatches(p.spec.podSelector, pod.labels));
    const sel = { egress: pick('Egress'), ingress: pick('Ingress') };
    this.next.selection.set(pod.key, { key, sel });
    return sel;
  };

  /** Every pod address of one family, sorted (shared by all rules). */
  private podAddrs(family: Family): PodAddr[] {
    const addrs = (this.next.addrs ??= new Map<Family, PodAddr[]>());
    let list = addrs.get(family);
    if (!list) {
      list = this.idx.pods.flatMap((pod) => pod.addrs.filter((a) => a.family === family).map((a): PodAddr => ({ addr: a.value, pod })));
      list.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
      addrs.set(family, list);
    }
    return list;
  }

  private target(p: NetworkPolicy, dir: Dir, ri: number, family: Family): RuleTarget {
    const key = `${policyKey(p)}|${fp(p.spec)}|${dir}|${ri}|${family}`;
    const t = this.next.targets.get(key) ?? ruleTarget(this.idx, rulesOf(p, dir)[ri]!, p.metadata.namespace, family, this.podAddrs(family));
    this.next.targets.set(key, t);
    return t;
  }

  private elements(g: Group): NftElement[] {
    const key = g.policies.map((p) => fp(p.spec)).join(',');
    const hit = this.next.elements.get(g.name);
    const elements = hit && hit.key === key ? hit.elements : groupElements(g, (p, ri) => this.target(p, g.dir, ri, g.family), (p) => policyObjectName(policyKey(p), g.dir));
    this.next.elements.set(g.name, { key, elements });
    return elements;
  }

  /** One namespace's local pods → their groups' sets and chains, reused while nothing it depends on changed. */
  private namespacePart(ns: string, eps: LocalEndpoint[]): NamespacePart {
    const key = `${this.nsKey.get(ns) ?? ''}|${eps.map((e) => `${e.name} ${e.hostIface} ${e.ip}`).join(',')}`;
    const hit = this.next.parts.get(ns);
    if (hit && hit.key === key) return hit.part;
    const { groups, dispatch, endpoints } = assignGroups(this.idx, eps, this.selecting);
    const part: NamespacePart = { endpoints, dispatch, sets: [], chains: [], groups: [], polDirs: new Map() };
    for (const g of groups) {
      const elements = this.elements(g);
      const o = this.objects(`group ${g.identity}`, () => {
        const what = `${g.dir} IPv${g.family} group of ${g.policies.map(policyKey).join(', ')}`;
        const peerField = `${ipKeyword(g.family)} ${g.dir === 'egress' ? 'daddr' : 'saddr'}`;
        return {
          chain: { name: g.name, comment: nftComment(what), rules: [`${peerField} . meta l4proto . th dport vmap @${g.name}`, ...this.logRule('D', g.name), 'counter drop'] },
        };
      });
      const set = o.set?.elements === elements ? o.set : { name: g.name, type: [addrType(g.family), 'inet_proto', 'inet_service'], map: 'verdict' as const, flags: ['interval'], elements };
      o.set = set;
      part.sets.push(set);
      part.chains.push(o.chain);
      for (const p of g.policies) {
        const dirs = part.polDirs.get(policyKey(p)) ?? new Set();
        dirs.add(g.dir);
        part.polDirs.set(policyKey(p), dirs);
      }
      part.groups.push({ name: g.name, direction: g.dir, family: g.family, policies: g.policies.map(policyKey), members: [...g.members].sort(), elements: elements.length });
    }
    this.next.parts.set(ns, { key, part });
    return part;
  }

  build(table: string): PolicyModel {
    const byNs = new Map<string, LocalEndpoint[]>();
    for (const ep of this.snapshot.localEndpoints) {
      const list = byNs.get(ep.namespace) ?? [];
      list.push(ep);
      byNs.set(ep.namespace, list);
    }
    const parts = [...byNs.keys()].sort().map((ns) => this.namespacePart(ns, byNs.get(ns)!));
    const sets: NftSet[] = [];
    const chains: NftChain[] = staticChains(this.log);
    const groupInfo: GroupInfo[] = [];
    const polDirs = new Map<string, Set<Dir>>();
    const dispatch = new Map<string, { v: bigint; e: NftElement }[]>();
    const endpoints: Record<Family, NftElement[]> = { 4: [], 6: [] };
    for (const part of parts) {
      for (const f of FAMILIES) endpoints[f].push(...part.endpoints[f]);
      for (const [name, list] of part.dispatch) {
        const all = dispatch.get(name);
        if (all) all.push(...list);
        else dispatch.set(name, [...list]);
      }
      sets.push(...part.sets);
      chains.push(...part.chains);
      groupInfo.push(...part.groups);
      for (const [k, dirs] of part.polDirs) polDirs.set(k, dirs);
    }
    for (const f of FAMILIES) {
      sets.push({ name: `endpoints${sfx(f)}`, type: ['ifname', addrType(f)], flags: [], comment: 'local pods: host veth . address', elements: sortElements(endpoints[f]) });
      for (const dir of DIRS) {
        const name = `${dir}_groups${sfx(f)}`;
        const list = (dispatch.get(name) ?? []).sort((a, b) => (a.v < b.v ? -1 : a.v > b.v ? 1 : 0));
        sets.push({ name, type: [addrType(f)], map: 'verdict', flags: [], comment: `local pods isolated for ${dir}`, elements: list.map((x) => x.e) });
      }
    }
    groupInfo.sort((a, b) => (a.name < b.name ? -1 : 1));
    const policies: PolicyObjects[] = [];
    for (const key of [...polDirs.keys()].sort()) {
      const obj: PolicyObjects = { policy: key };
      for (const dir of DIRS) {
        if (!polDirs.get(key)!.has(dir)) continue;
        const name = policyObjectName(key, dir);
        obj[dir] = name;
        const o = this.objects(`policy ${key} ${dir}`, () => ({
          chain: { name, comment: nftComment(`${key} ${dir}`), rules: [`counter${dir === 'ingress' ? ' accept' : ''}`] },
        }));
          chains.push(o.chain);
      }
      policies.push(obj);
    }
    return {
      family: 'inet',
      table,
      // Counters are anonymous, in the rules (a chain's counter is the sum of its rules'): named
      // counter objects would make nft dump ~1,750 more objects before every transaction.
      counters: [],
      sets: sortByName(sets),
      chains: [...chains.filter((c) => c.base), ...sortByName(chains.filter((c) => !c.base))],
      info: { node: this.snapshot.node, groups: groupInfo, policies, spoofCounter: SPOOF_COUNTER },
    };
  }
}

/** Sorted by name (the native string sort is several times faster than a comparator). */
function sortByName<T extends { name: string }>(xs: T[]): T[] {
  const byName = new Map(xs.map((x) => [x.name, x]));
  return [...byName.keys()].sort().map((k) => byName.get(k)!);
}
const sortElements = (els: NftElement[]): NftElement[] => [...new Map(els.map((e) => [e.key, e])).values()].sort((a, b) => (a.key < b.key ? -1 : 1));

function staticChains(log: FlowLogOptions | undefined): NftChain[] {
  const twl = `"${HOST_VETH_PREFIX}*"`;
  // With flow records, a spoofed packet is counted here (the `antispoof` chain's counters are the
  // spoof count) and then logged and dropped in a chain of its own: a rate limit inside the
  // dropping rule would let packets over the limit through.
  const drop = log ? `goto ${SPOOF_LOG_CHAIN}` : 'drop';
  return [
    {
      name: 'antispoof',
      comment: 'packets from pods: the source must be the pod\'s own address',
      rules: [
        `iifname . ip saddr != @endpoints counter ${drop}`,
        `ip6 saddr != { ::, fe80::/10 } iifname . ip6 saddr != @endpoints6 counter ${drop}`,
      ],
    },
    ...(log ? [{ name: SPOOF_LOG_CHAIN, comment: 'spoofed packets: log, then drop', rules: [flowLogRule(log, 'S', 'antispoof'), 'drop'] }] : []),
    {
      name: 'forward',
      base: { type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' },
      comment: 'NetworkPolicy for forwarded pod traffic',
      // Anti-spoofing first, before conntrack's verdict: a forged packet must not ride on another
      // pod's established flow. It lives here rather than in a prerouting hook because every
      // packet the node receives passes prerouting (VXLAN traffic twice: outer and inner), while
      // only forwarded packets pass here; `lab bench` profiles put the prerouting hook at about
      // two thirds of this table's datapath cost. A pod's packets to its own node (input) are not
      // checked: node ↔ own pods is always allowed anyway.
      rules: [
        `iifname ${twl} jump antispoof`,
        'ct state established,related accept',
        'ct state invalid drop',
        'iifname . ip daddr @endpoints accept',
        'iifname . ip6 daddr @endpoints6 accept',
        `iifname ${twl} jump egress`,
        `oifname ${twl} jump ingress`,
      ],
    },
    { name: 'egress', comment: 'source pod isolated for egress: go to its group', rules: ['ip saddr vmap @egress_groups', 'ip6 saddr vmap @egress_groups6'] },
    { name: 'ingress', comment: 'destination pod isolated for ingress: go to its group', rules: ['ip daddr vmap @ingress_groups', 'ip6 daddr vmap @ingress_groups6'] },
  ];
}

/**
 * A compiler that remembers its last compile, so a change to one policy recomputes only what
 * that policy touches. One per table; not for concurrent use.
 */
export class PolicyCompiler {
  private memo: Memo | undefined;

  constructor(private readonly opts: CompileOptions = {}) {}

  /** The index of the snapshot compiled last (the same one `evaluate` would build): callers reuse it rather than keep a second. */
  get index(): SnapshotIndex | undefined {
    return this.memo?.index;
  }

  compile(snapshot: PolicySnapshot): PolicyModel {
    const c = new Compilation(snapshot, this.memo, this.opts.log);
    const model = c.build(this.opts.table ?? NFT_TABLE_POLICY);
    this.memo = c.next;
    return model;
  }
}

/** Compiles a snapshot into the model of the whole table. */
export function compilePolicy(snapshot: PolicySnapshot, opts: CompileOptions = {}): PolicyModel {
  return new PolicyCompiler(opts).compile(snapshot);
}

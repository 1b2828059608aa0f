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
import type { GroupInfo, NftChain, NftCounter, NftElement, NftSet, PolicyModel, PolicyObjects } from './model.js';
import { addrType, ipKeyword, nftComment } from './nft-format.js';
import { checkLocalEndpoints, effectivePolicyTypes, indexSnapshot, podKey, policyKey, type IndexedPod, type PolicySnapshot, type SnapshotIndex } from './snapshot.js';
import { rulesOf, ruleTarget, type Dir, type PodAddr, type RuleTarget } from './targets.js';

export interface CompileOptions {
  /** Table name (default twill-policy). */
  table?: string;
}

export const SPOOF_COUNTER = 'spoofed';
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
    v = createHash('sha1').update(JSON.stringify(o)).digest('base64').slice(0, 20);
    fpCache.set(o, v);
  }
  return v;
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
  objects: Map<string, { set?: NftSet; counter: NftCounter; chain: NftChain }>;
}

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
  private readonly addrCache = new Map<Family, PodAddr[]>();
  readonly next: Memo;
  /** The previous compile's world-dependent entries, when the world is unchanged. */
  private readonly prev: Memo | undefined;
  private readonly prevSelection: Memo['selection'] | undefined;

  constructor(
    private readonly snapshot: PolicySnapshot,
    prev: Memo | undefined,
  ) {
    const world = worldFingerprint(snapshot);
    // Pods and namespaces unchanged: reuse their index, only the policies are new.
    const reuse = prev?.world === world ? prev.index : undefined;
    this.idx = reuse ? { ...reuse, policies: [...snapshot.policies].sort((a, b) => (policyKey(a) < policyKey(b) ? -1 : 1)) } : indexSnapshot(snapshot);
    checkLocalEndpoints(this.idx, snapshot.localEndpoints);
    for (const p of this.idx.policies) {
      const list = this.byNs.get(p.metadata.namespace) ?? [];
      list.push(p);
      this.byNs.set(p.metadata.namespace, list);
    }
    for (const [ns, list] of this.byNs) this.nsKey.set(ns, list.map((p) => `${policyKey(p)}=${fp(p.spec)}`).join(','));
    this.next = { world, targets: new Map(), elements: new Map(), selection: new Map(), index: this.idx, addrs: this.addrCache, objects: new Map() };
    this.prev = prev?.world === world ? prev : undefined;
    this.prevSelection = prev?.selection;
    this.prevObjects = prev?.objects;
  }

  private readonly prevObjects: Memo['objects'] | undefined;

  /** Reuses the objects of the last compile when `key` (their whole input) is unchanged. */
  private objects(key: string, make: () => { set?: NftSet; counter: NftCounter; chain: NftChain }): { set?: NftSet; counter: NftCounter; chain: NftChain } {
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
    let list = this.addrCache.get(family) ?? this.prev?.addrs?.get(family);
    if (!list) {
      list = this.idx.pods.flatMap((pod) => pod.addrs.filter((a) => a.family === family).map((a) => ({ addr: a.value, pod })));
      list.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    }
    this.addrCache.set(family, list);
    return list;
  }

  private target(p: NetworkPolicy, dir: Dir, ri: number, family: Family): RuleTarget {
    const key = `${policyKey(p)}|${fp(p.spec)}|${dir}|${ri}|${family}`;
    const t = this.next.targets.get(key) ?? this.prev?.targets.get(key) ?? ruleTarget(this.idx, rulesOf(p, dir)[ri]!, p.metadata.namespace, family, this.podAddrs(family));
    this.next.targets.set(key, t);
    return t;
  }

  private elements(g: Group): NftElement[] {
    const key = g.policies.map((p) => fp(p.spec)).join(',');
    const hit = this.prev?.elements.get(g.name);
    const elements = hit && hit.key === key ? hit.elements : groupElements(g, (p, ri) => this.target(p, g.dir, ri, g.family), (p) => policyObjectName(policyKey(p), g.dir));
    this.next.elements.set(g.name, { key, elements });
    return elements;
  }

  build(table: string): PolicyModel {
    const { groups, dispatch, endpoints } = assignGroups(this.idx, this.snapshot.localEndpoints, this.selecting);
    const counters: NftCounter[] = [{ name: SPOOF_COUNTER, comment: 'packets dropped by anti-spoofing' }];
    const sets: NftSet[] = [];
    const chains: NftChain[] = staticChains();
    const groupInfo: GroupInfo[] = [];
    const polDirs = new Map<string, Set<Dir>>();
    for (const f of FAMILIES) {
      sets.push({ name: `endpoints${sfx(f)}`, type: ['ifname', addrType(f)], flags: [], comment: 'local pods: host veth . address', elements: sortElements(endpoints[f]) });
      for (const dir of DIRS) {
        const name = `${dir}_groups${sfx(f)}`;
        sets.push({ name, type: [addrType(f)], map: 'verdict', flags: [], comment: `local pods isolated for ${dir}`, elements: dispatch.get(name) ?? [] });
      }
    }
    for (const g of groups) {
      const elements = this.elements(g);
      const o = this.objects(`group ${g.identity}`, () => {
        const what = `${g.dir} IPv${g.family} group of ${g.policies.map(policyKey).join(', ')}`;
        const peerField = `${ipKeyword(g.family)} ${g.dir === 'egress' ? 'daddr' : 'saddr'}`;
        return {
          counter: { name: g.name, comment: nftComment(`dropped: ${what}`) },
          chain: { name: g.name, comment: nftComment(what), rules: [`${peerField} . meta l4proto . th dport vmap @${g.name}`, `counter name "${g.name}" drop`] },
        };
      });
      const set = o.set?.elements === elements ? o.set : { name: g.name, type: [addrType(g.family), 'inet_proto', 'inet_service'], map: 'verdict' as const, flags: ['interval'], elements };
      o.set = set;
      sets.push(set);
      counters.push(o.counter);
      chains.push(o.chain);
      for (const p of g.policies) {
        const dirs = polDirs.get(policyKey(p)) ?? new Set();
        dirs.add(g.dir);
        polDirs.set(policyKey(p), dirs);
      }
      groupInfo.push({ name: g.name, direction: g.dir, family: g.family, policies: g.policies.map(policyKey), members: [...g.members].sort(), elements: elements.length });
    }
    const policies: PolicyObjects[] = [];
    for (const key of [...polDirs.keys()].sort()) {
      const obj: PolicyObjects = { policy: key };
      for (const dir of DIRS) {
        if (!polDirs.get(key)!.has(dir)) continue;
        const name = policyObjectName(key, dir);
        obj[dir] = name;
        const o = this.objects(`policy ${key} ${dir}`, () => ({
          counter: { name, comment: nftComment(`${key} ${dir} allowed`) },
          chain: { name, comment: nftComment(`${key} ${dir}`), rules: [`counter name "${name}"${dir === 'ingress' ? ' accept' : ''}`] },
        }));
        counters.push(o.counter);
        chains.push(o.chain);
      }
      policies.push(obj);
    }
    return {
      family: 'inet',
      table,
      counters: sortByName(counters),
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

function staticChains(): NftChain[] {
  const twl = `"${HOST_VETH_PREFIX}*"`;
  return [
    {
      name: 'antispoof',
      comment: 'packets from pods: the source must be the pod\'s own address',
      rules: [
        `iifname . ip saddr != @endpoints counter name "${SPOOF_COUNTER}" drop`,
        `ip6 saddr != { ::, fe80::/10 } iifname . ip6 saddr != @endpoints6 counter name "${SPOOF_COUNTER}" drop`,
      ],
    },
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

  compile(snapshot: PolicySnapshot): PolicyModel {
    const c = new Compilation(snapshot, this.memo);
    const model = c.build(this.opts.table ?? NFT_TABLE_POLICY);
    this.memo = c.next;
    return model;
  }
}

/** Compiles a snapshot into the model of the whole table. */
export function compilePolicy(snapshot: PolicySnapshot, opts: CompileOptions = {}): PolicyModel {
  return new PolicyCompiler(opts).compile(snapshot);
}

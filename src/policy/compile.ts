// snapshot → the whole `inet twill-policy` table, as a model (see README.md for the layout).
// Pure: no clock, no I/O, no logging. Per-packet work is a fixed number of lookups whatever the
// number of policies: the volume lives in map elements, one interval map per group of local pods
// that share their selecting policies (and, for ingress, their named-port numbers).
import { createHash } from 'node:crypto';
import type { NetworkPolicy } from '../model/types.js';
import { HOST_VETH_PREFIX, NFT_TABLE_POLICY } from '../dataplane/kernel/names.js';
import { TwillError } from '../util/errors.js';
import { tryParseIp, formatIp, type Family } from '../util/ip.js';
import { decompose, type Box } from './boxes.js';
import { selectorMatches } from '../model/labels.js';
import type { GroupInfo, NftChain, NftCounter, NftElement, NftSet, PolicyModel, PolicyObjects } from './model.js';
import { addrType, formatAddrRange, formatPortRange, formatProtoRange, ipKeyword, nftComment } from './nft-format.js';
import { checkLocalEndpoints, effectivePolicyTypes, indexSnapshot, podKey, policyKey, type IndexedPod, type PolicySnapshot, type SnapshotIndex } from './snapshot.js';
import { namedPortsUsed, resolveNamedPort, ruleBoxes, rulesOf, ruleTarget, type Dir, type RuleTarget } from './targets.js';

export interface CompileOptions {
  /** Table name (default twill-policy). */
  table?: string;
}

export const SPOOF_COUNTER = 'spoofed';
const DIRS: Dir[] = ['egress', 'ingress'];
const FAMILIES: Family[] = [4, 6];
const sfx = (f: Family): string => (f === 4 ? '' : '6');
const hash12 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);

/** Chain and counter name of a policy's allowed traffic in one direction. */
export function policyObjectName(key: string, dir: Dir): string {
  return `${dir === 'egress' ? 'pe' : 'pi'}_${hash12(key)}`;
}

interface Group {
  name: string;
  identity: string;
  dir: Dir;
  family: Family;
  policies: NetworkPolicy[];
  members: Set<string>;
  /** Named-port resolution of the members (ingress only). */
  named: Map<string, number[]>;
}

class Compiler {
  private readonly idx: SnapshotIndex;
  private readonly rank = new Map<string, number>();
  private readonly targets = new Map<string, RuleTarget>();
  private readonly groups = new Map<string, Group>();
  private readonly dispatch = new Map<string, NftElement[]>();
  private readonly endpoints: Record<Family, NftElement[]> = { 4: [], 6: [] };

  constructor(private readonly snapshot: PolicySnapshot) {
    this.idx = indexSnapshot(snapshot);
    checkLocalEndpoints(this.idx, snapshot.localEndpoints);
    this.idx.policies.forEach((p, i) => this.rank.set(policyKey(p), i));
  }

  private selecting(pod: IndexedPod, dir: Dir): NetworkPolicy[] {
    const type = dir === 'ingress' ? 'Ingress' : 'Egress';
    return this.idx.policies.filter(
      (p) => p.metadata.namespace === pod.namespace && effectivePolicyTypes(p).includes(type) && selectorMatches(p.spec.podSelector, pod.labels),
    );
  }

  /** Sorts local endpoints into groups and fills the dispatch maps and the endpoint sets. */
  assign(): void {
    const eps = [...this.snapshot.localEndpoints].sort((a, b) => (a.hostIface + a.ip < b.hostIface + b.ip ? -1 : 1));
    const selected = new Map<string, Record<Dir, NetworkPolicy[]>>();
    for (const ep of eps) {
      const pod = this.idx.podsByKey.get(podKey(ep))!;
      const addr = tryParseIp(ep.ip)!;
      const ip = formatIp(addr);
      this.endpoints[addr.family].push({ key: `"${ep.hostIface}" . ${ip}` });
      let sel = selected.get(pod.key);
      if (!sel) {
        sel = { egress: this.selecting(pod, 'egress'), ingress: this.selecting(pod, 'ingress') };
        selected.set(pod.key, sel);
      }
      for (const dir of DIRS) {
        const pols = sel[dir];
        if (pols.length === 0) continue;
        const named = new Map<string, number[]>();
        if (dir === 'ingress') {
          for (const np of namedPortsUsed(pols, 'ingress')) named.set(`${np.name}/${np.protocol}`, resolveNamedPort(pod, np.name, np.protocol));
        }
        const sig = [...named.entries()].map(([k, v]) => `${k}=${v.join('+')}`).join(',');
        const identity = `${dir}|${addr.family}|${pols.map(policyKey).join(',')}|${sig}`;
        const name = `${dir === 'egress' ? 'eg' : 'in'}_${hash12(identity)}`;
        let g = this.groups.get(name);
        if (g && g.identity !== identity) throw new TwillError('INTERNAL', `group name collision on ${name}`);
        if (!g) {
          g = { name, identity, dir, family: addr.family, policies: pols, members: new Set(), named };
          this.groups.set(name, g);
        }
        g.members.add(pod.key);
        const mapName = `${dir}_groups${sfx(addr.family)}`;
        const list = this.dispatch.get(mapName) ?? [];
        list.push({ key: ip, value: `goto ${name}` });
        this.dispatch.set(mapName, list);
      }
    }
  }

  private target(p: NetworkPolicy, dir: Dir, ri: number, family: Family): RuleTarget {
    const key = `${policyKey(p)}|${dir}|${ri}|${family}`;
    let t = this.targets.get(key);
    if (!t) {
      t = ruleTarget(this.idx, rulesOf(p, dir)[ri]!, p.metadata.namespace, family);
      this.targets.set(key, t);
    }
    return t;
  }

  groupElements(g: Group): NftElement[] {
    const boxes: Box[] = [];
    for (const p of g.policies) {
      const label = this.rank.get(policyKey(p))!;
      rulesOf(p, g.dir).forEach((rule, ri) => {
        const t = this.target(p, g.dir, ri, g.family);
        boxes.push(...ruleBoxes(t, rule, g.dir, label, (name, proto) => g.named.get(`${name}/${proto}`) ?? []));
      });
    }
    return decompose(boxes).map((b) => ({
      key: `${formatAddrRange(g.family, b.dims[0]!)} . ${formatProtoRange(b.dims[1]!)} . ${formatPortRange(b.dims[2]!)}`,
      value: `goto ${policyObjectName(policyKey(this.idx.policies[b.label]!), g.dir)}`,
    }));
  }

  build(table: string): PolicyModel {
    this.assign();
    const counters: NftCounter[] = [{ name: SPOOF_COUNTER, comment: 'packets dropped by anti-spoofing' }];
    const sets: NftSet[] = [];
    const chains: NftChain[] = staticChains();
    const groupInfo: GroupInfo[] = [];
    const polDirs = new Map<string, Set<Dir>>();
    for (const f of FAMILIES) {
      sets.push({ name: `endpoints${sfx(f)}`, type: ['ifname', addrType(f)], flags: [], comment: 'local pods: host veth . address', elements: sortElements(this.endpoints[f]) });
      for (const dir of DIRS) {
        const name = `${dir}_groups${sfx(f)}`;
        sets.push({ name, type: [addrType(f)], map: 'verdict', flags: [], comment: `local pods isolated for ${dir}`, elements: sortByAddr(this.dispatch.get(name) ?? []) });
      }
    }
    for (const g of [...this.groups.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const elements = this.groupElements(g);
      const what = `${g.dir} IPv${g.family} group of ${g.policies.map(policyKey).join(', ')}`;
      sets.push({ name: g.name, type: [addrType(g.family), 'inet_proto', 'inet_service'], map: 'verdict', flags: ['interval'], elements });
      counters.push({ name: g.name, comment: nftComment(`dropped: ${what}`) });
      const peerField = `${ipKeyword(g.family)} ${g.dir === 'egress' ? 'daddr' : 'saddr'}`;
      chains.push({
        name: g.name,
        comment: nftComment(what),
        rules: [`${peerField} . meta l4proto . th dport vmap @${g.name}`, `counter name "${g.name}" drop`],
      });
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
        counters.push({ name, comment: nftComment(`${key} ${dir} allowed`) });
        chains.push({ name, comment: nftComment(`${key} ${dir}`), rules: [`counter name "${name}"${dir === 'ingress' ? ' accept' : ''}`] });
      }
      policies.push(obj);
    }
    return {
      family: 'inet',
      table,
      counters: counters.sort(byName),
      sets: sets.sort(byName),
      chains: [...chains.filter((c) => c.base), ...chains.filter((c) => !c.base).sort(byName)],
      info: { node: this.snapshot.node, groups: groupInfo, policies, spoofCounter: SPOOF_COUNTER },
    };
  }
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const sortElements = (els: NftElement[]): NftElement[] => [...new Map(els.map((e) => [e.key, e])).values()].sort((a, b) => (a.key < b.key ? -1 : 1));

function sortByAddr(els: NftElement[]): NftElement[] {
  const val = (e: NftElement): bigint => tryParseIp(e.key)?.value ?? 0n;
  return [...new Map(els.map((e) => [e.key, e])).values()].sort((a, b) => (val(a) < val(b) ? -1 : val(a) > val(b) ? 1 : 0));
}

function staticChains(): NftChain[] {
  const twl = `"${HOST_VETH_PREFIX}*"`;
  return [
    {
      name: 'prerouting',
      base: { type: 'filter', hook: 'prerouting', priority: 'raw', policy: 'accept' },
      comment: 'anti-spoofing: a pod sends only from its own addresses',
      // Every packet on every interface passes this hook (with VXLAN, twice on the receiving
      // node), so packets not from a pod must leave after one test. With the iifname test
      // repeated in both rules, perf profiles of `lab bench` (VXLAN, pod→pod TCP) put this table
      // at ~3.4% of the datapath's CPU; with one test and a jump, ~1.7%.
      rules: [`iifname ${twl} jump antispoof`],
    },
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
      rules: [
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

/** Compiles a snapshot into the model of the whole table. */
export function compilePolicy(snapshot: PolicySnapshot, opts: CompileOptions = {}): PolicyModel {
  return new Compiler(snapshot).build(opts.table ?? NFT_TABLE_POLICY);
}

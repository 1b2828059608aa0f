// The incremental services compiler: it keeps what each Service contributed to the table and, on
// an update, recompiles only the Services whose objects changed (by identity: informers replace
// an object when it changes), then says what moved as the steps of one transaction (DiffOp[],
// the same steps policy's diff produces). A full compile is the same code run over everything,
// so the incremental and the full table cannot drift apart. Pure: no clock, no I/O, no logging.
import { NFT_TABLE_SERVICES } from '../dataplane/kernel/names.js';
import { diffModels, type DiffOp } from '../policy/diff.js';
import type { NftChain, NftElement, NftSet, NftTableModel } from '../policy/model.js';
import { formatCidr, tryParseCidr, tryParseIp, type Family } from '../util/ip.js';
import type { EndpointSlice, Service } from '../model/types.js';
import type { ConntrackFilter } from '../dataplane/kernel/conntrack-delete.js';
import { TwillError } from '../util/errors.js';
import { BULK, bulkMaps, compileFragment, familySets, staticChains, type Fragment } from './compile.js';
import { resolveService, sliceOwner, validSlices, type HealthCheck, type ResolvedServices, type ServicePortPlan, type ServicesSnapshot, type Skipped } from './resolve.js';
import { staleFlows } from './stale.js';
import { OwnedElements } from './owned-elements.js';

export interface CompilerInput {
  node: { name: string; addresses: string[] };
  podCidrs: string[];
  localPodIPs?: string[];
  /** Services by `namespace/name`. */
  services: ReadonlyMap<string, Service>;
  /** EndpointSlices by `namespace/name`. */
  slices: ReadonlyMap<string, EndpointSlice>;
}

/** Keys that changed since the last update (absent: compare everything). */
export interface ChangedKeys {
  services: Iterable<string>;
  slices: Iterable<string>;
}

export interface ServicesDelta {
  /** The generation this delta starts from. */
  from: number;
  /** One transaction's steps, in order; empty when nothing changed. */
  ops: DiffOp[];
  changes: number;
  /** UDP/SCTP flows to forget: endpoints that went away. */
  stale: ConntrackFilter[];
  /** Services recompiled. */
  recompiled: number;
}

export interface CompiledServices {
  /** Which compiler and which of its outputs (a delta applies only on top of its `from`). */
  readonly source: object;
  readonly generation: number;
  /** The whole table (built on first read; only valid while this is the compiler's latest output). */
  readonly model: NftTableModel;
  /** The same table with the bulk maps' elements in no particular order: for a first load (first-load.ts), not built twice. */
  readonly loadModel: NftTableModel;
  readonly resolved: ResolvedServices;
  readonly delta?: ServicesDelta;
}

interface Entry {
  svc: Service | undefined;
  slices: EndpointSlice[];
  ports: ServicePortPlan[];
  health?: HealthCheck;
  skipped: Skipped[];
  frag: Fragment;
  /** Some endpoint has no nodeName: whether it is local depends on this node's pod addresses. */
  byAddress: boolean;
}

/** The value of `key` in bulk map `map` in a fragment's flat triples (fragments are small). */
function fragmentValue(frag: Fragment | undefined, map: string, key: string): string | undefined {
  const els = frag?.elements;
  if (!els) return undefined;
  for (let i = 0; i < els.length; i += 3) if (els[i + 1] === key && els[i] === map) return els[i + 2];
  return undefined;
}

const NO_SKIPPED: Skipped[] = [];

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export interface CompilerOptions {
  /** The objects were validated on write (a kube-apiserver): not checked again here. */
  validated?: boolean;
}

export class ServicesCompiler {
  constructor(private readonly opts: CompilerOptions = {}) {}
  private entries = new Map<string, Entry>();
  private sliceOwners = new Map<string, string>();
  private slicesOf = new Map<string, Map<string, EndpointSlice>>();
  private bulk = new Map<string, OwnedElements>();
  private context = '';
  private generation = 0;
  private lastStatic: NftTableModel | undefined;
  private localKey = '';
  /** Shared chains in use, with how many Services use each. */
  private picks = new Map<string, { chain: NftChain; refs: number }>();
  /** Fragments with chains and sets of their own (affinity). */
  private own = new Map<string, Fragment>();
  private familyPorts: Record<Family, number> = { 4: 0, 6: 0 };
  private portCount = 0;
  private health = new Map<string, HealthCheck>();
  private skipped = new Map<string, Skipped[]>();

  /** Compiles the input; only Services whose objects (or the node's facts) changed are recompiled. */
  update(input: CompilerInput, changed?: ChangedKeys): CompiledServices {
    const nodeIPs: Record<Family, string[]> = { 4: [], 6: [] };
    for (const a of input.node.addresses) {
      const f = tryParseIp(a)?.family;
      if (f) nodeIPs[f].push(a);
    }
    const localIPs = new Set(input.localPodIPs ?? []);
    const context = JSON.stringify([input.node.name, nodeIPs]);
    // Local pod addresses only decide endpoints without a nodeName: a pod added on this node
    // recompiles the few Services that have such endpoints, not all of them.
    const localKey = [...localIPs].sort().join(',');
    const dirty = new Set<string>();
    const localChanged = localKey !== this.localKey;
    if (localChanged) for (const [k, e] of this.entries) if (e.byAddress) dirty.add(k);
    this.localKey = localKey;
    if (context !== this.context || !changed) this.reindexSlices(input, dirty);
    else {
      for (const k of changed.services) dirty.add(k);
      for (const k of changed.slices) this.moveSlice(k, input.slices.get(k), dirty);
    }
    const all = context !== this.context;
    this.context = context;
    if (all || !changed) {
      for (const k of this.entries.keys()) dirty.add(k);
      for (const k of input.services.keys()) dirty.add(k);
      for (const k of this.slicesOf.keys()) dirty.add(k);
    }

    const touched = new Map<string, Map<string, { before: string | undefined }>>();
    const stale: ConntrackFilter[] = [];
    let recompiled = 0;
    for (const key of dirty) {
      const old = this.entries.get(key);
      const svc = input.services.get(key);
      const slices = [...(this.slicesOf.get(key)?.values() ?? [])];
      if (!all && old && old.svc === svc && old.slices.length === slices.length && old.slices.every((s, i) => s === slices[i]) && !(old.byAddress && localChanged)) continue;
      recompiled++;
      const skipped: Skipped[] = [];
      const valid = validSlices(slices, skipped, this.opts.validated);
      const r = svc ? resolveService(svc, valid, { nodeName: input.node.name, localIPs, validated: this.opts.validated }, skipped) : { ports: [] };
      const byAddress = slices.some((sl) => sl.endpoints.some((e) => e.nodeName === undefined));
      const next: Entry = { svc, slices, ports: r.ports, skipped: skipped.length ? skipped : NO_SKIPPED, frag: compileFragment(r.ports, nodeIPs), byAddress, ...(r.healthCheck ? { health: r.healthCheck } : {}) };
      if (old) stale.push(...staleFlows(old.ports, next.ports));
      // No previous table, no delta: nothing to note (a first compile of 70,000 elements).
      this.swap(key, old?.frag, next.frag, this.lastStatic ? touched : undefined);
      this.count(old, -1);
      this.count(next, +1);
      if (next.frag.chains.length || next.frag.sets.length) this.own.set(key, next.frag);
      else this.own.delete(key);
      this.portCount += next.ports.length - (old?.ports.length ?? 0);
      if (next.health) this.health.set(key, next.health);
      else this.health.delete(key);
      if (next.skipped.length) this.skipped.set(key, next.skipped);
      else this.skipped.delete(key);
      if (!svc && slices.length === 0) this.entries.delete(key);
      else this.entries.set(key, next);
    }

    const from = this.generation++;
    const staticModel = this.staticModel(input, nodeIPs);
    const ops: DiffOp[] = [];
    let changes = 0;
    if (this.lastStatic) {
      const d = diffModels(this.lastStatic, staticModel);
      if (d.full) throw new TwillError('INTERNAL', 'the services table changed shape (a map or a base chain); the next apply replaces it whole');
      const { deletes, adds } = this.elementOps(staticModel, touched);
      // Element deletes after creations, element adds after every delete, before chains are refilled or removed.
      const firstNonCreate = d.ops.findIndex((o) => o.op !== 'addChain' && o.op !== 'addSet' && o.op !== 'addCounter');
      const created = firstNonCreate < 0 ? d.ops.length : firstNonCreate;
      const rest = d.ops.slice(created);
      const lastElementOp = rest.findIndex((o) => o.op !== 'deleteElements' && o.op !== 'addElements');
      const elementEnd = lastElementOp < 0 ? rest.length : lastElementOp;
      const staticDeletes = rest.slice(0, elementEnd).filter((o) => o.op === 'deleteElements');
      const staticAdds = rest.slice(0, elementEnd).filter((o) => o.op === 'addElements');
      ops.push(...d.ops.slice(0, created), ...deletes, ...staticDeletes, ...adds, ...staticAdds, ...rest.slice(elementEnd));
      changes = d.changes + deletes.reduce((n, o) => n + (o.op === 'deleteElements' ? o.elements.length : 0), 0) + adds.reduce((n, o) => n + (o.op === 'addElements' ? o.elements.length : 0), 0);
    }
    const hadStatic = this.lastStatic !== undefined;
    this.lastStatic = staticModel;
    const generation = this.generation;
    let model: NftTableModel | undefined;
    let loadModel: NftTableModel | undefined;
    const current = (): void => {
      if (this.generation !== generation) throw new TwillError('INTERNAL', 'a services table was read after a later compile replaced it');
    };
    const full = (sorted: boolean): NftTableModel => this.fullModel(staticModel, sorted);
    return {
      source: this,
      generation,
      get model(): NftTableModel {
        current();
        return (model ??= full(true));
      },
      get loadModel(): NftTableModel {
        current();
        return model ?? (loadModel ??= full(false));
      },
      resolved: this.resolved(),
      ...(hadStatic ? { delta: { from, ops, changes, stale, recompiled } } : {}),
    };
  }

  private count(e: Entry | undefined, by: 1 | -1): void {
    if (!e) return;
    for (const p of e.ports) this.familyPorts[p.family] += by;
    for (const c of e.frag.picks) {
      const cur = this.picks.get(c.name);
      const refs = (cur?.refs ?? 0) + by;
      if (refs <= 0) this.picks.delete(c.name);
      else this.picks.set(c.name, { chain: cur?.chain ?? c, refs });
    }
  }

  private reindexSlices(input: CompilerInput, dirty: Set<string>): void {
    for (const k of this.sliceOwners.keys()) if (!input.slices.has(k)) this.moveSlice(k, undefined, dirty);
    for (const [k, s] of input.slices) if (this.slicesOf.get(sliceOwner(s) ?? '')?.get(k) !== s) this.moveSlice(k, s, dirty);
  }

  private moveSlice(key: string, s: EndpointSlice | undefined, dirty: Set<string>): void {
    const was = this.sliceOwners.get(key);
    if (was !== undefined) {
      this.slicesOf.get(was)?.delete(key);
      if (this.slicesOf.get(was)?.size === 0) this.slicesOf.delete(was);
      this.sliceOwners.delete(key);
      dirty.add(was);
    }
    const owner = s ? sliceOwner(s) : undefined;
    if (!s || owner === undefined) return;
    this.sliceOwners.set(key, owner);
    let m = this.slicesOf.get(owner);
    if (!m) this.slicesOf.set(owner, (m = new Map()));
    m.set(key, s);
    dirty.add(owner);
  }

  /**
   * Moves one owner's elements from `old` to `next`, remembering each touched key's value before.
   * Called while `entries` still holds `old` for this owner: a key's value is read from its
   * owner's fragment there, and each key is noted before it is first changed.
   */
  private swap(owner: string, old: Fragment | undefined, next: Fragment, touched: Map<string, Map<string, { before: string | undefined }>> | undefined): void {
    const note = (map: string, key: string, els: OwnedElements): void => {
      if (!touched) return;
      let t = touched.get(map);
      if (!t) touched.set(map, (t = new Map()));
      if (!t.has(key)) t.set(key, { before: els.value(key) });
    };
    const index = (els: string[] | undefined): Map<string, Map<string, string>> => {
      const m = new Map<string, Map<string, string>>();
      for (let i = 0; els && i < els.length; i += 3) {
        let byKey = m.get(els[i]!);
        if (!byKey) m.set(els[i]!, (byKey = new Map()));
        byKey.set(els[i + 1]!, els[i + 2]!);
      }
      return m;
    };
    if (!old?.elements.length) {
      // Nothing to compare with (a Service seen for the first time): every element is added.
      const els = next.elements;
      for (let i = 0; i < els.length; i += 3) {
        const owned = this.elementsOf(els[i]!);
        note(els[i]!, els[i + 1]!, owned);
        owned.set(els[i + 1]!, owner);
      }
      return;
    }
    const [was, now] = [index(old.elements), index(next.elements)];
    for (const [map, keys] of was) {
      const els = this.elementsOf(map);
      for (const [key, v] of keys) {
        if (now.get(map)?.get(key) === v) continue;
        note(map, key, els);
        els.delete(key, owner);
      }
    }
    for (const [map, keys] of now) {
      const els = this.elementsOf(map);
      for (const [key, v] of keys) {
        if (was.get(map)?.get(key) === v) continue;
        note(map, key, els);
        els.set(key, owner);
      }
    }
  }

  private elementsOf(map: string): OwnedElements {
    let e = this.bulk.get(map);
    if (!e) this.bulk.set(map, (e = new OwnedElements(map, (owner, m, key) => fragmentValue(this.entries.get(owner)?.frag, m, key))));
    return e;
  }

  private elementOps(model: NftTableModel, touched: Map<string, Map<string, { before: string | undefined }>>): { deletes: DiffOp[]; adds: DiffOp[] } {
    const sets = new Map(model.sets.map((s) => [s.name, s]));
    const deletes: DiffOp[] = [];
    const adds: DiffOp[] = [];
    for (const [map, keys] of [...touched].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const set = sets.get(map);
      if (!set) continue; // the family went away: its maps are deleted whole
      const els = this.elementsOf(map);
      const gone: NftElement[] = [];
      const added: NftElement[] = [];
      for (const [key, { before }] of keys) {
        const after = els.value(key);
        if (before === after) continue;
        if (before !== undefined) gone.push(set.map ? { key, value: before } : { key });
        if (after !== undefined) added.push(set.map ? { key, value: after } : { key });
      }
      if (gone.length) deletes.push({ op: 'deleteElements', set, elements: gone });
      if (added.length) adds.push({ op: 'addElements', set, elements: added });
    }
    return { deletes, adds };
  }

  /** Everything but the bulk maps' elements: small, so it is diffed whole. */
  private staticModel(input: CompilerInput, nodeIPs: Record<Family, string[]>): NftTableModel {
    const pools = input.podCidrs.map((c) => tryParseCidr(c)).filter((c) => c !== undefined);
    const present = new Set<Family>([...pools.map((c) => c.family), ...(nodeIPs[4].length ? [4 as const] : []), ...(nodeIPs[6].length ? [6 as const] : [])]);
    for (const f of [4, 6] as const) if (this.familyPorts[f] > 0) present.add(f);
    const chains: NftChain[] = [...this.picks.values()].map((p) => p.chain);
    const sets: NftSet[] = [];
    for (const fr of this.own.values()) {
      chains.push(...fr.chains);
      sets.push(...fr.sets);
    }
    const families = ([4, 6] as const).filter((f) => present.has(f) || (f === 4 && present.size === 0));
    const familyObjects = families.flatMap((f) => [...familySets(f, nodeIPs[f], pools.filter((c) => c.family === f).map(formatCidr)), ...bulkMaps(f)]);
    return { family: 'inet', table: NFT_TABLE_SERVICES, counters: [], sets: [...familyObjects, ...sets.sort(byName)], chains: [...staticChains(families), ...chains.sort(byName)] };
  }

  private fullModel(staticModel: NftTableModel, sorted: boolean): NftTableModel {
    const bulkNames = new Set(BULK.flatMap((b) => [`${b}_v4`, `${b}_v6`]));
    return { ...staticModel, sets: staticModel.sets.map((s) => (bulkNames.has(s.name) ? { ...s, elements: this.bulk.get(s.name)?.elements(s.map !== undefined, sorted) ?? [] } : s)) };
  }

  private resolved(): ResolvedServices {
    const sortedKeys = <T>(m: Map<string, T>): T[] => [...m.keys()].sort().map((k) => m.get(k)!);
    // The plans are listed only when asked for (the full path's conntrack check, tools): listing
    // 20,000 of them on every endpoint change would cost more than the change. Read later, the
    // list is the compiler's latest (which is this one as long as nothing was compiled since).
    let ports: ServicePortPlan[] | undefined;
    const entries = this.entries;
    return {
      healthChecks: sortedKeys(this.health),
      skipped: sortedKeys(this.skipped).flat(),
      portCount: this.portCount,
      get ports(): ServicePortPlan[] {
        return (ports ??= [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).flatMap(([, e]) => e.ports));
      },
    };
  }
}

/** The whole table for a snapshot (golden tests, tools): one update of a fresh compiler. */
export function compileServices(s: ServicesSnapshot): CompiledServices {
  const key = (o: { metadata: { namespace?: string; name: string } }): string => `${o.metadata.namespace}/${o.metadata.name}`;
  return new ServicesCompiler().update({
    node: s.node,
    podCidrs: s.podCidrs,
    ...(s.localPodIPs ? { localPodIPs: s.localPodIPs } : {}),
    services: new Map(s.services.map((x) => [key(x), x])),
    slices: new Map(s.endpointSlices.map((x) => [key(x), x])),
  });
}

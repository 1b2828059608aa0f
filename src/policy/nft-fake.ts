// An in-memory nftables table for tests: applies scripts atomically (all or nothing, like
// `nft -f`), and is stricter than the kernel where the kernel is lax: it rejects overlapping
// interval elements, deleting elements or objects that do not exist, and deleting anything that
// is still referenced. `dump()` prints the state canonically, to compare two ways of reaching it.
import { parseNft, type ChainSpec, type Command, type ElementAst, type Expr, type RuleAst, type SetSpec, type Value } from './nft-parse.js';

export interface FakeSet extends SetSpec {
  name: string;
}

export interface FakeChain {
  name: string;
  spec: ChainSpec;
  rules: RuleAst[];
}

export interface FakeTable {
  name: string;
  counters: Map<string, { comment?: string; packets: number }>;
  sets: Map<string, FakeSet>;
  chains: Map<string, FakeChain>;
}

export class NftFakeError extends Error {}

const valueText = (v: Value): string => (v.kind === 'str' ? `"${v.s}"` : v.lo === v.hi ? `${v.lo}` : `${v.lo}-${v.hi}`);
export const keyText = (k: Value[]): string => k.map(valueText).join(' . ');

function overlaps(a: Value[], b: Value[]): boolean {
  return a.every((x, i) => {
    const y = b[i]!;
    if (x.kind === 'str' || y.kind === 'str') return x.kind === 'str' && y.kind === 'str' && x.s === y.s;
    return x.lo <= y.hi && y.lo <= x.hi;
  });
}

function exprRefs(e: Expr): { sets: string[]; chains: string[]; counters: string[] } {
  const out = { sets: [] as string[], chains: [] as string[], counters: [] as string[] };
  if ((e.kind === 'match' && e.rhs.kind === 'set') || (e.kind === 'vmap' && e.map.kind === 'set')) out.sets.push(e.kind === 'match' ? (e.rhs as { name: string }).name : (e.map as { name: string }).name);
  if (e.kind === 'verdict' && 'target' in e.verdict) out.chains.push(e.verdict.target);
  if (e.kind === 'vmap' && e.map.kind === 'anon') for (const el of e.map.elements) if (el.verdict && 'target' in el.verdict) out.chains.push(el.verdict.target);
  if (e.kind === 'counter' && e.name !== undefined) out.counters.push(e.name);
  return out;
}

export class NftFake {
  tables = new Map<string, FakeTable>();

  /** Applies a script as one transaction; on error nothing changes and the error says why. */
  apply(script: string): void {
    const cmds = parseNft(script);
    const work = cloneTables(this.tables);
    for (const c of cmds) applyCommand(work, c);
    for (const t of work.values()) checkReferences(t);
    this.tables = work;
  }

  table(name: string): FakeTable {
    const t = this.tables.get(name);
    if (!t) throw new NftFakeError(`no table ${name}`);
    return t;
  }

  /** Canonical text of one table (sorted objects and elements; counters without values). */
  dump(name: string): string {
    const t = this.tables.get(name);
    if (!t) return '';
    const lines: string[] = [];
    for (const [n, c] of [...t.counters].sort()) lines.push(`counter ${n} comment=${c.comment ?? ''}`);
    for (const s of [...t.sets.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      lines.push(`set ${s.name} map=${s.map} type=${s.type.join('.')}:${s.dataType ?? ''} flags=${s.flags.join(',')} comment=${s.comment ?? ''}`);
      const els = s.elements.map((e) => `  ${keyText(e.key)}${e.verdict ? ` : ${e.verdict.kind}${'target' in e.verdict ? ' ' + e.verdict.target : ''}` : ''}`);
      lines.push(...els.sort());
    }
    for (const c of [...t.chains.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      lines.push(`chain ${c.name} ${JSON.stringify(c.spec)}`);
      for (const r of c.rules) lines.push(`  ${r.text}`);
    }
    return lines.join('\n') + '\n';
  }
}

function cloneTables(src: Map<string, FakeTable>): Map<string, FakeTable> {
  const out = new Map<string, FakeTable>();
  for (const [n, t] of src) {
    out.set(n, {
      name: n,
      counters: new Map([...t.counters].map(([k, v]) => [k, { ...v }])),
      sets: new Map([...t.sets].map(([k, v]) => [k, { ...v, elements: [...v.elements] }])),
      chains: new Map([...t.chains].map(([k, v]) => [k, { ...v, rules: [...v.rules] }])),
    });
  }
  return out;
}

function need<T>(m: Map<string, T>, name: string, what: string, usedBy?: string): T {
  const v = m.get(name);
  if (!v) throw new NftFakeError(`${what} ${name} does not exist${usedBy ? ` (used by ${usedBy})` : ''}`);
  return v;
}

function addElements(t: FakeTable, s: FakeSet, els: ElementAst[]): void {
  for (const el of els) {
    if (el.verdict && 'target' in el.verdict) need(t.chains, el.verdict.target, 'chain', `an element of ${s.name}`);
    if (el.key.length !== s.type.length) throw new NftFakeError(`element ${keyText(el.key)} has ${el.key.length} fields, set ${s.name} has ${s.type.length}`);
    if (s.map !== (el.verdict !== undefined)) throw new NftFakeError(`element ${keyText(el.key)}: ${s.map ? 'map elements need a value' : 'set elements take no value'}`);
    const text = keyText(el.key);
    const same = s.elements.find((e) => keyText(e.key) === text);
    if (same) {
      if (JSON.stringify(same.verdict) === JSON.stringify(el.verdict)) continue;
      throw new NftFakeError(`element ${text} already exists in ${s.name} with another value`);
    }
    const interval = s.flags.includes('interval');
    if (!interval && el.key.some((v) => v.kind === 'range' && v.lo !== v.hi && !s.type.includes('ifname'))) {
      throw new NftFakeError(`set ${s.name} has no interval flag, element ${text} is a range`);
    }
    const clash = s.elements.find((e) => overlaps(e.key, el.key));
    if (clash) throw new NftFakeError(`element ${text} overlaps ${keyText(clash.key)} in ${s.name}`);
    s.elements.push(el);
  }
}

function applyCommand(tables: Map<string, FakeTable>, c: Command): void {
  if (c.obj === 'table') {
    if (c.op === 'add') {
      if (!tables.has(c.table)) tables.set(c.table, { name: c.table, counters: new Map(), sets: new Map(), chains: new Map() });
    } else {
      need(tables, c.table, 'table');
      tables.delete(c.table);
    }
    return;
  }
  const t = need(tables, c.table, 'table');
  switch (c.obj) {
    case 'counter':
      if (c.op === 'add') {
        if (!t.counters.has(c.name)) t.counters.set(c.name, { ...(c.comment !== undefined ? { comment: c.comment } : {}), packets: 0 });
      } else {
        need(t.counters, c.name, 'counter');
        const user = ruleUser(t, 'counters', c.name);
        if (user) throw new NftFakeError(`cannot delete counter ${c.name}: ${user} still uses it`);
        t.counters.delete(c.name);
      }
      return;
    case 'set':
      if (c.op === 'add') {
        const old = t.sets.get(c.name);
        const { elements, ...shape } = c.spec;
        if (old) {
          const { elements: _e, name: _n, ...oldShape } = old;
          if (JSON.stringify(oldShape) !== JSON.stringify(shape)) throw new NftFakeError(`set ${c.name} exists with another definition`);
        } else t.sets.set(c.name, { name: c.name, ...shape, elements: [] });
        addElements(t, t.sets.get(c.name)!, elements);
      } else {
        need(t.sets, c.name, 'set');
        const user = ruleUser(t, 'sets', c.name);
        if (user) throw new NftFakeError(`cannot delete set ${c.name}: ${user} still uses it`);
        t.sets.delete(c.name);
      }
      return;
    case 'element': {
      const s = need(t.sets, c.name, 'set');
      if (c.op === 'add') addElements(t, s, c.elements);
      else {
        for (const el of c.elements) {
          const i = s.elements.findIndex((e) => keyText(e.key) === keyText(el.key));
          if (i < 0) throw new NftFakeError(`element ${keyText(el.key)} is not in ${s.name}`);
          s.elements.splice(i, 1);
        }
      }
      return;
    }
    case 'chain':
      if (c.op === 'add') {
        const old = t.chains.get(c.name);
        if (old && JSON.stringify(old.spec.hook) !== JSON.stringify(c.spec.hook)) throw new NftFakeError(`chain ${c.name} exists with another hook`);
        if (!old) t.chains.set(c.name, { name: c.name, spec: c.spec, rules: [] });
        for (const r of c.rules) addRule(t, c.name, r);
      } else if (c.op === 'flush') need(t.chains, c.name, 'chain').rules = [];
      else {
        need(t.chains, c.name, 'chain');
        const user = chainUser(t, c.name);
        if (user) throw new NftFakeError(`cannot delete chain ${c.name}: ${user} still refers to it`);
        t.chains.delete(c.name);
      }
      return;
    case 'rule':
      addRule(t, c.name, c.rule);
      return;
  }
}

function addRule(t: FakeTable, chain: string, r: RuleAst): void {
  const ch = need(t.chains, chain, 'chain');
  for (const e of r.exprs) {
    const refs = exprRefs(e);
    for (const s of refs.sets) need(t.sets, s, 'set', `a rule in ${chain}`);
    for (const x of refs.chains) need(t.chains, x, 'chain', `a rule in ${chain}`);
    for (const x of refs.counters) need(t.counters, x, 'counter', `a rule in ${chain}`);
  }
  ch.rules.push(r);
}

/** Who refers to an object of the given kind and name (rules in other chains, map elements). */
function ruleUser(t: FakeTable, kind: 'sets' | 'chains' | 'counters', name: string, except?: string): string | undefined {
  for (const ch of t.chains.values()) {
    if (ch.name === except) continue;
    for (const r of ch.rules) for (const e of r.exprs) if (exprRefs(e)[kind].includes(name)) return `a rule in chain ${ch.name}`;
  }
  return undefined;
}

function chainUser(t: FakeTable, name: string): string | undefined {
  const byRule = ruleUser(t, 'chains', name, name);
  if (byRule) return byRule;
  for (const s of t.sets.values()) {
    if (s.elements.some((e) => e.verdict && 'target' in e.verdict && e.verdict.target === name)) return `an element of map ${s.name}`;
  }
  return undefined;
}

/** Every name a rule or element uses must exist, and vmaps must be verdict maps. */
function checkReferences(t: FakeTable): void {
  for (const ch of t.chains.values()) {
    for (const r of ch.rules) {
      for (const e of r.exprs) {
        const refs = exprRefs(e);
        for (const s of refs.sets) {
          const set = need(t.sets, s, 'set', `chain ${ch.name}`);
          if (e.kind === 'vmap' && set.dataType !== 'verdict') throw new NftFakeError(`${s} is not a verdict map (chain ${ch.name})`);
          const width = (e as { lhs: unknown[] }).lhs.length;
          if (set.type.length !== width) throw new NftFakeError(`lookup of ${width} fields in ${s} of ${set.type.length} (chain ${ch.name})`);
        }
        for (const x of refs.chains) need(t.chains, x, 'chain', `chain ${ch.name}`);
        for (const x of refs.counters) need(t.counters, x, 'counter', `chain ${ch.name}`);
      }
    }
  }
  for (const s of t.sets.values()) {
    for (const el of s.elements) if (el.verdict && 'target' in el.verdict) need(t.chains, el.verdict.target, 'chain', `map ${s.name}`);
  }
}

export { parseNft };
export type { Command };

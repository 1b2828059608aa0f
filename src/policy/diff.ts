// (previous model, next model) → the text of ONE nft transaction that turns the first into the
// second. Objects are created before anything refers to them and deleted after nothing does:
//   1 counters, chains (empty), sets and maps that are new
//   2 element deletes, then element adds (a replaced element is deleted first: interval maps
//     reject overlaps, and the kernel matches interval deletes on the start key only)
//   3 flush + refill chains whose rules changed, fill new chains
//   4 flush removed chains, delete removed sets/maps (their elements may goto removed chains),
//     then removed chains, then removed counters
// Anything the incremental form cannot express (a set's type, a chain's hook or comment
// changed) falls back to the full replacement, which is still one transaction.
import type { NftChain, NftCounter, NftElement, NftSet, NftTableModel } from './model.js';
import { renderBaseSpec, renderElement, renderFullReplace, setHeaderLines } from './render.js';

/**
 * One step of an incremental transaction, in order. The text form (`renderOp`) is what `nft -f`
 * receives; policy/netlink.ts encodes the same steps as one nf_tables netlink batch.
 */
export type DiffOp =
  | { op: 'addCounter'; counter: NftCounter }
  | { op: 'addChain'; chain: NftChain }
  | { op: 'addSet'; set: NftSet }
  | { op: 'deleteElements'; set: NftSet; elements: NftElement[] }
  | { op: 'addElements'; set: NftSet; elements: NftElement[] }
  | { op: 'flushChain'; chain: string }
  | { op: 'addRule'; chain: string; rule: string }
  | { op: 'deleteSet'; set: NftSet }
  | { op: 'deleteChain'; chain: string }
  | { op: 'deleteCounter'; counter: string };

export interface DiffResult {
  /** The transaction text; empty when nothing changed. */
  script: string;
  /** The same transaction as steps (empty for a full replacement). */
  ops: DiffOp[];
  /** True when the script is a full replacement. */
  full: boolean;
  /** Number of objects, elements and rewritten chains the script touches (0: nothing to do). */
  changes: number;
}

const byName = <T extends { name: string }>(xs: T[]): Map<string, T> => new Map(xs.map((x) => [x.name, x]));
const sameStrings = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function setShapeEqual(a: NftSet, b: NftSet): boolean {
  return sameStrings(setHeaderLines(a), setHeaderLines(b)) && a.map === b.map;
}

function chainShapeEqual(a: NftChain, b: NftChain): boolean {
  const base = (c: NftChain): string => (c.base ? renderBaseSpec(c.base) : '');
  return base(a) === base(b) && a.comment === b.comment;
}

function elementBlock(els: NftElement[], withValues: boolean): string {
  return `{\n${els.map((e) => `\t${withValues ? renderElement(e) : e.key}`).join(',\n')}\n}`;
}

/** The nft text of one step, in table `t` (`inet twill-policy`). */
export function renderOp(t: string, o: DiffOp): string {
  switch (o.op) {
    case 'addCounter':
      return declareCounter(t, o.counter);
    case 'addChain':
      return declareChain(t, o.chain);
    case 'addSet':
      return declareSet(t, o.set);
    case 'deleteElements':
      return `delete element ${t} ${o.set.name} ${elementBlock(o.elements, false)}`;
    case 'addElements':
      return `add element ${t} ${o.set.name} ${elementBlock(o.elements, true)}`;
    case 'flushChain':
      return `flush chain ${t} ${o.chain}`;
    case 'addRule':
      return `add rule ${t} ${o.chain} ${o.rule}`;
    case 'deleteSet':
      return `delete ${o.set.map ? 'map' : 'set'} ${t} ${o.set.name}`;
    case 'deleteChain':
      return `delete chain ${t} ${o.chain}`;
    case 'deleteCounter':
      return `delete counter ${t} ${o.counter}`;
  }
}

function declareChain(t: string, c: NftChain): string {
  const parts: string[] = [];
  if (c.base) parts.push(renderBaseSpec(c.base));
  if (c.comment !== undefined) parts.push(`comment "${c.comment}" ;`);
  return `add chain ${t} ${c.name}${parts.length ? ` { ${parts.join(' ')} }` : ''}`;
}

function declareSet(t: string, s: NftSet): string {
  return `add ${s.map ? 'map' : 'set'} ${t} ${s.name} { ${setHeaderLines(s).join(' ; ')} ; }`;
}

function declareCounter(t: string, c: NftCounter): string {
  return `add counter ${t} ${c.name}${c.comment !== undefined ? ` { comment "${c.comment}" ; }` : ''}`;
}

/** Fast path for the common case: the same list (PolicyCompiler reuses it) or equal in order. */
function sameElements(a: NftElement[], b: NftElement[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.key !== b[i]!.key || a[i]!.value !== b[i]!.value) return false;
  return true;
}

export function diffModels(prev: NftTableModel, next: NftTableModel): DiffResult {
  const full = (): DiffResult => ({ script: renderFullReplace(next), ops: [], full: true, changes: 1 });
  if (prev.family !== next.family || prev.table !== next.table) return full();
  const t = `${next.family} ${next.table}`;
  const [pc, nc] = [byName(prev.counters), byName(next.counters)];
  const [ps, ns] = [byName(prev.sets), byName(next.sets)];
  const [pch, nch] = [byName(prev.chains), byName(next.chains)];
  for (const [name, s] of ns) {
    const old = ps.get(name);
    if (old && old !== s && !setShapeEqual(old, s)) return full();
  }
  for (const [name, c] of nch) {
    const old = pch.get(name);
    if (old && old !== c && !chainShapeEqual(old, c)) return full();
  }
  for (const [name, c] of nc) {
    const old = pc.get(name);
    if (old && old !== c && old.comment !== c.comment) return full();
  }

  const create: DiffOp[] = [];
  const deletes: DiffOp[] = [];
  const elements: DiffOp[] = [];
  const refill: DiffOp[] = [];
  const remove: DiffOp[] = [];
  let changes = 0;

  for (const c of next.counters) if (!pc.has(c.name)) create.push({ op: 'addCounter', counter: c });
  for (const c of next.chains) if (!pch.has(c.name)) create.push({ op: 'addChain', chain: c });
  for (const s of next.sets) if (!ps.has(s.name)) create.push({ op: 'addSet', set: s });
  changes += create.length;

  for (const s of next.sets) {
    const old = ps.get(s.name);
    if (old && sameElements(old.elements, s.elements)) continue;
    const before = new Map((old?.elements ?? []).map((e) => [e.key, e.value]));
    const after = new Map(s.elements.map((e) => [e.key, e.value]));
    const gone = (old?.elements ?? []).filter((e) => !after.has(e.key) || after.get(e.key) !== e.value);
    const added = s.elements.filter((e) => !before.has(e.key) || before.get(e.key) !== e.value);
    if (gone.length) deletes.push({ op: 'deleteElements', set: s, elements: gone });
    if (added.length) elements.push({ op: 'addElements', set: s, elements: added });
    changes += gone.length + added.length;
  }

  for (const c of next.chains) {
    const old = pch.get(c.name);
    if (old && (old === c || sameStrings(old.rules, c.rules))) continue;
    if (old) refill.push({ op: 'flushChain', chain: c.name });
    for (const r of c.rules) refill.push({ op: 'addRule', chain: c.name, rule: r });
    changes += 1;
  }

  const goneChains = prev.chains.filter((c) => !nch.has(c.name));
  for (const c of goneChains) remove.push({ op: 'flushChain', chain: c.name });
  for (const s of prev.sets) if (!ns.has(s.name)) remove.push({ op: 'deleteSet', set: s });
  for (const c of goneChains) remove.push({ op: 'deleteChain', chain: c.name });
  for (const c of prev.counters) if (!nc.has(c.name)) remove.push({ op: 'deleteCounter', counter: c.name });
  changes += remove.length - goneChains.length;

  const ops = [...create, ...deletes, ...elements, ...refill, ...remove];
  return { script: ops.length ? ops.map((o) => renderOp(t, o)).join('\n') + '\n' : '', ops, full: false, changes };
}

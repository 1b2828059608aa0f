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

export interface DiffResult {
  /** The transaction text; empty when nothing changed. */
  script: string;
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
  const full = (): DiffResult => ({ script: renderFullReplace(next), full: true, changes: 1 });
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

  const create: string[] = [];
  const elements: string[] = [];
  const refill: string[] = [];
  const remove: string[] = [];
  let changes = 0;

  for (const c of next.counters) if (!pc.has(c.name)) create.push(declareCounter(t, c));
  for (const c of next.chains) if (!pch.has(c.name)) create.push(declareChain(t, c));
  for (const s of next.sets) if (!ps.has(s.name)) create.push(declareSet(t, s));
  changes += create.length;

  const deletes: string[] = [];
  for (const s of next.sets) {
    const old = ps.get(s.name);
    if (old && sameElements(old.elements, s.elements)) continue;
    const before = new Map((old?.elements ?? []).map((e) => [e.key, e.value]));
    const after = new Map(s.elements.map((e) => [e.key, e.value]));
    const gone = (old?.elements ?? []).filter((e) => !after.has(e.key) || after.get(e.key) !== e.value);
    const added = s.elements.filter((e) => !before.has(e.key) || before.get(e.key) !== e.value);
    if (gone.length) deletes.push(`delete element ${t} ${s.name} ${elementBlock(gone, false)}`);
    if (added.length) elements.push(`add element ${t} ${s.name} ${elementBlock(added, true)}`);
    changes += gone.length + added.length;
  }

  for (const c of next.chains) {
    const old = pch.get(c.name);
    if (old && (old === c || sameStrings(old.rules, c.rules))) continue;
    if (old) refill.push(`flush chain ${t} ${c.name}`);
    for (const r of c.rules) refill.push(`add rule ${t} ${c.name} ${r}`);
    changes += 1;
  }

  const goneChains = prev.chains.filter((c) => !nch.has(c.name));
  for (const c of goneChains) remove.push(`flush chain ${t} ${c.name}`);
  for (const s of prev.sets) if (!ns.has(s.name)) remove.push(`delete ${s.map ? 'map' : 'set'} ${t} ${s.name}`);
  for (const c of goneChains) remove.push(`delete chain ${t} ${c.name}`);
  for (const c of prev.counters) if (!nc.has(c.name)) remove.push(`delete counter ${t} ${c.name}`);
  changes += remove.length - goneChains.length;

  const lines = [...create, ...deletes, ...elements, ...refill, ...remove];
  return { script: lines.length ? lines.join('\n') + '\n' : '', full: false, changes };
}

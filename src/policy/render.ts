// Model → nft text. `renderTable` is the table block exactly as `nft list table` would show it
// (modulo nft's own canonical forms); `renderFullReplace` wraps it so one `nft -f` replaces the
// whole table atomically, whether or not it exists.
import type { NftBaseChain, NftChain, NftCounter, NftElement, NftSet, NftTableModel } from './model.js';

const T = '\t';

export function renderElement(e: NftElement): string {
  return e.value === undefined ? e.key : `${e.key} : ${e.value}`;
}

export function renderBaseSpec(b: NftBaseChain): string {
  return `type ${b.type} hook ${b.hook} priority ${b.priority}; policy ${b.policy};`;
}

function renderCounter(c: NftCounter): string {
  if (c.comment === undefined) return `${T}counter ${c.name} {\n${T}}\n`;
  return `${T}counter ${c.name} {\n${T}${T}comment "${c.comment}"\n${T}}\n`;
}

/** The declaration lines inside a set/map block (type, flags, comment), without elements. */
export function setHeaderLines(s: NftSet): string[] {
  const lines = [s.typeof !== undefined ? `typeof ${s.typeof}` : `type ${s.type.join(' . ')}${s.map ? ` : ${s.map === 'data' ? (s.dataType ?? []).join(' . ') : s.map}` : ''}`];
  if (s.flags.length) lines.push(`flags ${s.flags.join(',')}`);
  if (s.timeout !== undefined) lines.push(`timeout ${s.timeout}`);
  if (s.comment !== undefined) lines.push(`comment "${s.comment}"`);
  return lines;
}

function renderSet(s: NftSet): string {
  const kind = s.map ? 'map' : 'set';
  let out = `${T}${kind} ${s.name} {\n`;
  for (const l of setHeaderLines(s)) out += `${T}${T}${l}\n`;
  if (s.elements.length > 0) {
    out += `${T}${T}elements = {\n`;
    out += s.elements.map((e) => `${T}${T}${T}${renderElement(e)}`).join(',\n');
    out += `\n${T}${T}}\n`;
  }
  return out + `${T}}\n`;
}

function renderChain(c: NftChain): string {
  let out = `${T}chain ${c.name} {\n`;
  if (c.base) out += `${T}${T}${renderBaseSpec(c.base)}\n`;
  if (c.comment !== undefined) out += `${T}${T}comment "${c.comment}"\n`;
  for (const r of c.rules) out += `${T}${T}${r}\n`;
  return out + `${T}}\n`;
}

/** The whole table as one `table inet NAME { … }` block. */
export function renderTable(m: NftTableModel): string {
  const parts = [...m.counters.map(renderCounter), ...m.sets.map(renderSet), ...m.chains.map(renderChain)];
  return `table ${m.family} ${m.table} {\n${parts.join('\n')}}\n`;
}

/** One transaction that replaces the table: `add` makes `delete` safe when it does not exist. */
export function renderFullReplace(m: NftTableModel): string {
  return `add table ${m.family} ${m.table}\ndelete table ${m.family} ${m.table}\n${renderTable(m)}`;
}

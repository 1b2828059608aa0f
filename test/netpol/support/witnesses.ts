// Comparing witnesses: the kernel's probe results and the evaluator's verdicts against a truth
// table (or, in the random test, the kernel against the evaluator), with a report a person can
// act on: the differing tables with the odd cells bracketed, and `policy explain` for some.
import type { NetpolLab } from './netpol-lab.js';
import { NETPOL_PORTS } from './netpol-lab.js';
import { formatMatrix, mismatches, parseCellKey, type Matrix } from './truth-table.js';

const EXPLAIN_CELLS = 4;

export interface Witness {
  name: string;
  matrix: Matrix;
}

/** Undefined when every witness agrees with `expected`; else the report. */
export async function disagreement(np: NetpolLab, title: string, expected: Witness, witnesses: Witness[]): Promise<string | undefined> {
  const bad = witnesses.map((w) => ({ w, miss: mismatches(expected.matrix, w.matrix) })).filter((x) => x.miss.length > 0);
  if (bad.length === 0) return undefined;
  const lines = [`${title}: ${bad.map((b) => `${b.w.name} differs from ${expected.name} in ${b.miss.length} cell(s)`).join('; ')}`, ''];
  for (const b of bad) {
    lines.push(`${b.w.name} (cells in brackets differ from ${expected.name}; only differing tables shown):`, formatMatrix(b.w.matrix, np.pods, NETPOL_PORTS, expected.matrix));
  }
  const cells = [...new Set(bad.flatMap((b) => b.miss.map((m) => m.key)))].slice(0, EXPLAIN_CELLS);
  lines.push(`twill policy explain for ${cells.length} of the cells:`);
  for (const k of cells) lines.push(await np.explain(parseCellKey(k)));
  return lines.join('\n');
}

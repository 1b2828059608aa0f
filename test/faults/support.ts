// The fault suite's bookkeeping: each fault run records whether it was survived, whether nothing
// was lost and whether the fault was visible; the table is written to a JSON file that
// `node --import tsx test/faults/report.ts` prints (and the suite prints at its end).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';

export interface FaultRun {
  fault: string;
  survived: boolean;
  nothingLost: boolean;
  visible: boolean;
  note?: string;
}

export const REPORT_FILE = process.env['TWILL_FAULT_REPORT'] ?? '/tmp/twill-faults.json';

export function loadRuns(): FaultRun[] {
  try {
    return JSON.parse(readFileSync(REPORT_FILE, 'utf8')) as FaultRun[];
  } catch {
    return []; // no report yet: an empty table
  }
}

export function recordRuns(runs: FaultRun[]): void {
  const keep = loadRuns().filter((r) => !runs.some((x) => x.fault === r.fault));
  writeFileSync(REPORT_FILE, JSON.stringify([...keep, ...runs], null, 1) + '\n');
}

/**
 * Runs one fault: what `body` sets on `r` is recorded (a throw becomes the run's note, with what
 * `context` adds, e.g. a server's last log lines), then the run must have survived, lost nothing
 * and been visible.
 */
export async function recordFault(r: FaultRun, body: () => Promise<void>, context?: () => Promise<string>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const more = context ? `\n${await context()}` : '';
    r.note = `${r.note ?? ''} threw: ${String(e)}${more}`.trim();
  } finally {
    recordRuns([r]);
  }
  assert.ok(r.survived && r.nothingLost && r.visible, JSON.stringify(r));
}

export function table(runs: FaultRun[]): string {
  const by = new Map<string, FaultRun[]>();
  for (const r of runs) by.set(r.fault, [...(by.get(r.fault) ?? []), r]);
  const rows = [['fault', 'runs', 'survived', 'nothing lost', 'visible']];
  for (const [f, rs] of by) rows.push([f, String(rs.length), String(rs.filter((r) => r.survived).length), rs.every((r) => r.nothingLost) ? 'Y' : 'N', rs.every((r) => r.visible) ? 'Y' : 'N']);
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n');
}

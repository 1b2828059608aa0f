// A scenario is a folder under test/netpol/scenarios/: `policy.yaml` (the first step), optional
// `update-N.yaml` (applied, as `lab apply -f` would) and `delete-N.yaml` (deleted, as
// `lab delete -f`) steps in N order, and `expect.txt` with one truth table set per step.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseExpectations, type ExpectedStep, type PortProto } from './truth-table.js';

export interface ScenarioStep {
  file: string;
  path: string;
  action: 'apply' | 'delete';
}

export interface Scenario {
  name: string;
  dir: string;
  /** The leading comment of expect.txt: what the scenario shows. */
  description: string;
  steps: ScenarioStep[];
  expectFile: string;
}

const STEP = /^(?:(policy)|(update|delete)-(\d+))\.yaml$/;

export function loadScenario(dir: string, name: string): Scenario {
  const files = readdirSync(dir).sort();
  const steps: (ScenarioStep & { order: number })[] = [];
  for (const f of files) {
    if (f === 'expect.txt') continue;
    const m = STEP.exec(f);
    if (!m) throw new Error(`${dir}: unexpected file ${f} (a scenario holds policy.yaml, update-N.yaml, delete-N.yaml and expect.txt)`);
    const order = m[1] ? 0 : Number(m[3]);
    if (steps.some((s) => s.order === order)) throw new Error(`${dir}: two steps numbered ${order}`);
    steps.push({ file: f, path: join(dir, f), action: m[2] === 'delete' ? 'delete' : 'apply', order });
  }
  if (!steps.some((s) => s.order === 0)) throw new Error(`${dir}: has no policy.yaml`);
  if (!files.includes('expect.txt')) throw new Error(`${dir}: has no expect.txt`);
  const expectFile = join(dir, 'expect.txt');
  const text = readFileSync(expectFile, 'utf8');
  const description = text
    .split('\n')
    .filter((_, i, all) => all.slice(0, i + 1).every((l) => l.startsWith('#')))
    .map((l) => l.replace(/^#\s?/, ''))
    .join(' ')
    .trim();
  return { name, dir, description, steps: steps.sort((a, b) => a.order - b.order).map(({ order: _o, ...s }) => s), expectFile };
}

export function loadScenarios(root: string): Scenario[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .map((n) => loadScenario(join(root, n), n));
}

/** The expected tables, one per step and in step order; throws when they do not line up. */
export function scenarioExpectations(s: Scenario, pods: readonly string[], ports: readonly PortProto[]): ExpectedStep[] {
  const exp = parseExpectations(readFileSync(s.expectFile, 'utf8'), s.expectFile, pods, ports);
  const want = s.steps.map((x) => x.file);
  const got = exp.map((x) => x.step);
  if (JSON.stringify(want) !== JSON.stringify(got)) {
    throw new Error(`${s.expectFile}: its steps (${got.join(', ')}) must be the scenario's files in order (${want.join(', ')})`);
  }
  return exp;
}

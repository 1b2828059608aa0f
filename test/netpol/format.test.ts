// The scenario files and the truth-table format, checked without a lab (no root needed): every
// scenario parses, lines up with its steps and holds valid Kubernetes YAML; tables survive a
// format → parse round trip; malformed tables fail with the file and line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../../src/lab/manifest.js';
import { NETPOL_PORTS } from './support/netpol-lab.js';
import { loadScenarios, scenarioExpectations } from './support/scenario.js';
import { renderTemplate } from './support/template.js';
import { allCells, cellKey, formatMatrix, mismatches, parseExpectations, type Matrix } from './support/truth-table.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PODS = ['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c'];
const IPS = new Map(PODS.map((p, i) => [p, `10.244.${1 + (i % 3)}.${10 + i}`]));

/** A deterministic pseudo-random matrix (mulberry32). */
function randomMatrix(seed: number, pAllowed: number): Matrix {
  let s = seed >>> 0;
  const rnd = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return new Map(allCells(PODS, NETPOL_PORTS).map((c) => [cellKey(c), rnd() < pAllowed]));
}

describe('scenario files', () => {
  const scenarios = loadScenarios(join(HERE, 'scenarios'));

  test('there are at least 20 scenarios, each described', () => {
    assert.ok(scenarios.length >= 20, `${scenarios.length} scenarios`);
    for (const s of scenarios) assert.ok(s.description.length > 20, `${s.name} needs a description at the top of expect.txt`);
  });

  for (const s of scenarios) {
    test(`${s.name}: one truth table set per step, valid YAML`, async () => {
      const exp = scenarioExpectations(s, PODS, NETPOL_PORTS);
      assert.equal(exp.length, s.steps.length);
      for (const e of exp) assert.equal(e.matrix.size, PODS.length * PODS.length * NETPOL_PORTS.length);
      const dir = await mkdtemp(join(tmpdir(), 'twill-netpol-format-'));
      try {
        for (const step of s.steps) {
          const path = join(dir, step.file);
          await writeFile(path, renderTemplate(await readFile(step.path, 'utf8'), IPS, step.path));
          const docs = await loadManifests([path]);
          assert.ok(docs.length > 0, `${step.path} holds no document`);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('truth tables', () => {
  test('format then parse gives the same matrix, and formatting groups alike ports', () => {
    const cases: Matrix[] = [randomMatrix(1, 0.5), randomMatrix(2, 0.9), new Map(allCells(PODS, NETPOL_PORTS).map((c) => [cellKey(c), c.protocol === 'TCP']))];
    for (const m of cases) {
      const text = `== policy.yaml ==\n${formatMatrix(m, PODS, NETPOL_PORTS)}`;
      const [step] = parseExpectations(text, 'mem', PODS, NETPOL_PORTS);
      assert.deepEqual(mismatches(m, step!.matrix), []);
    }
    assert.match(formatMatrix(cases[2]!, PODS, NETPOL_PORTS), /^TCP {5}x\/a/m);
    assert.match(formatMatrix(cases[2]!, PODS, NETPOL_PORTS), /^UDP {5}x\/a/m);
  });

  test('a formatted comparison brackets exactly the differing cells', () => {
    const exp = randomMatrix(3, 0.5);
    const obs = new Map(exp);
    const k = cellKey({ from: 'y/b', to: 'z/c', port: 81, protocol: 'UDP' });
    obs.set(k, !exp.get(k));
    const text = formatMatrix(obs, PODS, NETPOL_PORTS, exp);
    assert.equal(text.match(/\[/g)?.length, 1);
    assert.match(text, /^81\/UDP/m);
    assert.doesNotMatch(text, /^80\/TCP/m);
  });

  const header = `all     ${PODS.join(' ')}`;
  const row = (p: string, cell = '.') => `${p} ${PODS.map(() => cell).join(' ')}`;
  const table = (rows: string[]) => `== policy.yaml ==\n${header}\n${rows.join('\n')}\n`;
  const bad: [string, string, RegExp][] = [
    ['a missing row', table(PODS.slice(1).map((p) => row(p))), /mem:2: table has no row for x\/a/],
    ['a bad cell', table(PODS.map((p) => row(p, p === 'y/a' ? 'o' : '.'))), /mem:6: cell "o"/],
    ['a port covered twice', `${table(PODS.map((p) => row(p)))}\nTCP ${PODS.join(' ')}\n`, /80\/TCP is already covered by the table at line 2/],
    ['a port not covered', `== policy.yaml ==\nTCP ${PODS.join(' ')}\n${PODS.map((p) => row(p)).join('\n')}\n`, /step policy.yaml has no table for 80\/UDP, 81\/UDP/],
    ['an unknown pod', `== policy.yaml ==\nall ${PODS.slice(1).join(' ')} q/q\n`, /unknown pod\(s\) in header: q\/q/],
    ['a table before any step', `${header}\n`, /mem:1: a table must follow a step line/],
    ['a short row', table(PODS.map((p) => (p === 'x/c' ? 'x/c . .' : row(p)))), /mem:5: row x\/c has 2 cells, the header 9/],
  ];
  for (const [what, text, want] of bad) {
    test(`rejects ${what}, naming the line`, () => assert.throws(() => parseExpectations(text, 'mem', PODS, NETPOL_PORTS), want));
  }
});

describe('pod address placeholders', () => {
  test('ip, host and cidr', () => {
    const ips = new Map([['x/b', '10.244.103.193']]);
    assert.equal(renderTemplate('a: {{ip x/b}} b: "{{host x/b}}" c: {{ cidr x/b 26 }} d: {{cidr x/b 16}}', ips), 'a: 10.244.103.193 b: "10.244.103.193/32" c: 10.244.103.192/26 d: 10.244.0.0/16');
  });

  test('an unknown pod or a malformed placeholder is an error', () => {
    assert.throws(() => renderTemplate('{{ip q/q}}', IPS, 'f.yaml'), /f\.yaml: \{\{ip q\/q\}\} names a pod the lab does not run/);
    assert.throws(() => renderTemplate('{{cidr x/a}}', IPS, 'f.yaml'), /needs a prefix length/);
    assert.throws(() => renderTemplate('{{address x/a}}', IPS, 'f.yaml'), /cannot understand placeholder \{\{address x\/a\}\}/);
  });
});

// The upstream Kubernetes e2e NetworkPolicy scenarios (test/netpol/scenarios/), run in a real
// 3-node lab. Each step's truth table is checked against two independent witnesses: the kernel
// (every cell probed from inside the source pod) and the evaluator (run here over the lab's
// datastore). NETPOL_SCENARIO=substring runs only matching scenarios.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NETPOL_PORTS, NetpolLab } from './support/netpol-lab.js';
import { loadScenarios, scenarioExpectations } from './support/scenario.js';
import { allCells, cellKey, type Matrix } from './support/truth-table.js';
import { disagreement } from './support/witnesses.js';

const LAB = 'npe1';
const HERE = dirname(fileURLToPath(import.meta.url));
const filter = process.env['NETPOL_SCENARIO'];
const scenarios = loadScenarios(join(HERE, 'scenarios')).filter((s) => !filter || s.name.includes(filter));

let np: NetpolLab;

before(async () => {
  np = await NetpolLab.start(LAB);
}, { timeout: 120_000 });

after(async () => {
  await np?.stop();
});

function allAllowed(): Matrix {
  return new Map(allCells(np.pods, NETPOL_PORTS).map((c) => [cellKey(c), true]));
}

async function check(title: string, expected: Matrix): Promise<void> {
  const evaluator = await np.evaluatorMatrix();
  const kernel = await np.kernelMatrix(expected);
  const report = await disagreement(np, title, { name: 'the truth table', matrix: expected }, [
    { name: 'the kernel', matrix: kernel },
    { name: 'the evaluator', matrix: evaluator },
  ]);
  if (report) assert.fail(report);
}

describe('upstream e2e NetworkPolicy scenarios in the lab', () => {
  test('without policies every pod reaches every pod on every port', async () => {
    assert.deepEqual(np.pods, ['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c']);
    await check('baseline', allAllowed());
  });

  for (const s of scenarios) {
    test(s.name, { timeout: 90_000 }, async () => {
      const expected = scenarioExpectations(s, np.pods, NETPOL_PORTS);
      let clean = false;
      try {
        for (const [i, step] of s.steps.entries()) {
          if (step.action === 'apply') await np.apply(step.path);
          else await np.delete(step.path);
          await check(`${s.name}, after ${step.file}`, expected[i]!.matrix);
        }
        await np.reset();
        clean = true;
        // Deleting every policy and restoring the labels must give every connection back.
        await check(`${s.name}, after deleting its policies and restoring labels`, allAllowed());
      } finally {
        if (!clean) await np.reset();
      }
    });
  }
});

// `twill lab bench` end to end, in its smallest form (one backend, one 1-second run per path):
// the JSON shape, every figure positive, and nothing left behind. It does not assert the floor:
// throughput on a shared machine varies too much for one second to mean anything.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { listNetns } from '../../src/dataplane/kernel/netns.js';
import { benchLabNames } from '../../src/lab/bench.js';
import { removeHandPath } from '../../src/lab/bench-hand.js';
import { Lab } from '../../src/lab/lab.js';
import { loadLab } from '../../src/lab/state.js';
import { twillBin } from '../../src/util/paths.js';
import { existsSync } from 'node:fs';
import { labDir } from '../../src/lab/state.js';
import { netnsExists } from '../../src/dataplane/kernel/netns.js';
import { TestScope, uniqueName } from '../support/scope.js';

const scope = new TestScope();
const name = uniqueName('lbt', 10);
const names = benchLabNames(name, 'vxlan');
const other = uniqueName('lbo', 10);
const otherNames = benchLabNames(other, 'vxlan');

after(async () => {
  // Only needed if the bench itself failed to clean up; harmless otherwise.
  for (const n of [names, otherNames]) {
    await Lab.down(n.twill, () => undefined);
    await removeHandPath(n.hand);
  }
  await scope.cleanup();
});

function twill(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(twillBin(), args, { timeout: 150_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test('lab bench refuses to tear down a lab it did not make', { timeout: 60_000 }, async () => {
  const foreign = await scope.netns(`twl-${otherNames.hand}-`);
  const r = await twill(['lab', 'bench', '--backend', 'vxlan', '--duration', '1', '--repeats', '1', '--name', other]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`lab "${otherNames.hand}" exists and was not made by a benchmark`));
  assert.ok(netnsExists(foreign.name), 'the foreign namespace is left alone');
  assert.equal(existsSync(labDir(otherNames.twill)), false, 'what the bench had claimed is released');
});

test('lab bench --backend vxlan --duration 1 --repeats 1 -o json', { timeout: 180_000 }, async () => {
  const r = await twill(['lab', 'bench', '--backend', 'vxlan', '--duration', '1', '--repeats', '1', '--name', name, '-o', 'json']);
  assert.equal(r.code, 0, `lab bench failed:\n${r.stderr}`);
  const out = JSON.parse(r.stdout) as Record<string, unknown>[];
  assert.ok(Array.isArray(out), 'stdout is one JSON array');
  assert.equal(out.length, 1);
  const m = out[0]!;
  assert.equal(m['mode'], 'vxlan');
  for (const k of ['twillGbps', 'kernelGbps', 'underlayGbps', 'ratio', 'ratioOfMedians']) {
    assert.equal(typeof m[k], 'number', k);
    assert.ok((m[k] as number) > 0, `${k} = ${String(m[k])}`);
  }
  assert.equal(m['repeats'], 1);
  assert.equal(m['floor'], 0.97);
  assert.equal(typeof m['meetsFloor'], 'boolean');
  const samples = m['samples'] as Record<string, number[]>;
  assert.deepEqual(Object.keys(samples).sort(), ['kernel', 'twill', 'underlay']);
  for (const [path, xs] of Object.entries(samples)) {
    assert.equal(xs.length, 1, path);
    assert.ok(xs.every((x) => x > 0), `${path}: ${xs.join(', ')}`);
  }
  const eff = m['gbitPerCpuSecond'] as Record<string, number[]>;
  for (const [path, xs] of Object.entries(eff)) assert.ok(xs.length === 1 && xs[0]! > 0, `gbitPerCpuSecond.${path}: ${xs.join(', ')}`);
  assert.ok((m['cpuRatio'] as number) > 0);
  // The hand path is the same datapath: no device differs in what shapes per-packet work.
  assert.deepEqual(m['parity'], []);
  const nft = m['nftables'] as { twill: string[]; kernel: string[] };
  assert.ok(nft.twill.includes('inet twill-nat'), nft.twill.join(', '));
  assert.deepEqual(nft.kernel, ['ip hand-nat']);
  // Everything it created is gone.
  assert.equal(await loadLab(names.twill), undefined);
  const left = (await listNetns()).filter((ns) => ns.startsWith(`twl-${names.twill}-`) || ns.startsWith(`twl-${names.hand}-`));
  assert.deepEqual(left, []);
});

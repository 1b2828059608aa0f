// Runs the test suite with node:test.
//   unit    *.test.ts under src/ that need no root (run in parallel)
//   kernel  *.kernel.test.ts under src/ and every test under test/ (root, real kernel, serial)
//   all     unit, then kernel
// Extra arguments filter files by substring: `node scripts/run-tests.mjs kernel lifecycle`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [which = 'all', ...filters] = process.argv.slice(2);

function walk(dir) {
  let out = [];
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (e === 'node_modules' || e.startsWith('.')) continue;
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const all = [...walk('src'), ...walk('test'), ...walk('bench')].sort();
const match = (f) => filters.length === 0 || filters.some((s) => f.includes(s));
const isKernel = (f) => f.endsWith('.kernel.test.ts') || f.startsWith('test/');
const unit = all.filter((f) => !isKernel(f) && match(f));
const kernel = all.filter((f) => isKernel(f) && match(f));

function runSet(label, files, concurrency) {
  if (files.length === 0) return 0;
  console.log(`\n[test] ${label}: ${files.length} file(s)`);
  const started = Date.now();
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
    { stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } },
  );
  console.log(`[test] ${label}: ${r.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return r.status ?? 1;
}

let status = 0;
if (which === 'unit' || which === 'all') status ||= runSet('unit', unit, 2);
if (which === 'kernel' || which === 'all') {
  if (process.getuid?.() !== 0) {
    console.error('[test] kernel tests need root: they create network namespaces, veths and nftables tables.');
    process.exit(1);
  }
  status = runSet('kernel', kernel, 1) || status;
}
process.exit(status);

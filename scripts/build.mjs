// Bundles the entry points with esbuild. Native or file-loading packages stay external and are
// resolved from node_modules at run time (netlink and koffi ship prebuilt .node files; etcd3 loads
// .proto files).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
};

// A Bun executable would otherwise read .env, bunfig.toml, tsconfig.json and package.json from
// the directory it is started in: a runtime's working directory must not change what a CNI
// plugin does (a .env there could set CNI_COMMAND).
const NO_AUTOLOAD = ['--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig', '--no-compile-autoload-tsconfig', '--no-compile-autoload-package-json'];

mkdirSync('dist', { recursive: true });
const started = Date.now();
await Promise.all([
  // The CNI shim: node builtins only, nothing heavy, no source maps (start-up time is pod start-up
  // time). CommonJS, because Node's ES-module loader alone costs ~7 ms per start; self-contained
  // and executable. dist/twill-cni (what bin/twill-cni links to) is made from it below.
  build({
    ...common,
    format: 'cjs',
    entryPoints: { 'twill-cni': 'src/cni/shim-main.ts' },
    outExtension: { '.js': '.cjs' },
    outdir: 'dist',
    sourcemap: false,
    minify: true,
    banner: { js: '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS -u NODE_OPTIONS node' },
  }).then(() => chmodSync('dist/twill-cni.cjs', 0o755)),
  // The process inside each lab pod: small, fast to start.
  build({ ...common, entryPoints: { 'pod-server': 'src/lab/pod-server.ts' }, outdir: 'dist', sourcemap: false }),
  // The web UI's script (`twill ui` serves it): for the browser, self-contained, nothing loaded
  // from the network at run time.
  build({ ...common, platform: 'browser', target: 'es2022', entryPoints: { app: 'src/ui/web/main.ts' }, outdir: 'dist/ui', minify: true, sourcemap: false }),
  build({
    ...common,
    entryPoints: { twill: 'src/cli/main.ts' },
    outdir: 'dist',
    external: ['netlink', 'etcd3', 'koffi'],
    // Bundled CommonJS deps expect require(); give ESM output one.
    banner: { js: "import { createRequire as __twillCreateRequire } from 'node:module'; const require = __twillCreateRequire(import.meta.url);" },
  }),
]);
const shim = shimExecutable();
console.log(`build: dist/ in ${Date.now() - started} ms (twill-cni runs on ${shim})`);

/**
 * dist/twill-cni, the file a runtime executes on every CNI call. The same bundle compiled into one
 * executable by Bun when its binary is installed (the optional npm dependency) and works here: it
 * starts and exits in ~17 ms where Node takes ~45 ms, and the runtime waits for that on every pod
 * start. Otherwise, or with TWILL_SHIM=node, a copy of the Node bundle. Either way one
 * self-contained file; dist/twill-cni.runtime says which.
 */
function shimExecutable() {
  const out = 'dist/twill-cni';
  const tmp = `${out}.tmp-${process.pid}`;
  const useNode = (why) => {
    if (why) console.warn(`build: twill-cni falls back to Node: ${why}`);
    copyFileSync('dist/twill-cni.cjs', tmp);
    chmodSync(tmp, 0o755);
    renameSync(tmp, out);
    writeFileSync('dist/twill-cni.runtime', 'node\n');
    return 'node';
  };
  if (process.env.TWILL_SHIM === 'node') return useNode();
  let bun;
  try {
    bun = join(dirname(createRequire(import.meta.url).resolve('@oven/bun-linux-x64/package.json')), 'bin', 'bun');
  } catch {
    return useNode(process.env.TWILL_SHIM === 'bun' ? 'the @oven/bun-linux-x64 package is not installed' : undefined);
  }
  const version = spawnSync(bun, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) return useNode(`${bun} does not run here (${(version.stderr || version.error?.message || `signal ${version.signal}`).trim()})`);
  const compiled = spawnSync(bun, ['build', '--compile', '--minify', '--bytecode', ...NO_AUTOLOAD, 'dist/twill-cni.cjs', '--outfile', tmp], { encoding: 'utf8' });
  if (compiled.status !== 0 || !existsSync(tmp)) return useNode(`bun build --compile failed: ${compiled.stderr.trim()}`);
  // The compiled shim must answer VERSION exactly as the Node one does before it replaces it.
  const probe = (cmd) => spawnSync(cmd, [], { input: '', env: { CNI_COMMAND: 'VERSION', PATH: process.env.PATH }, encoding: 'utf8' }).stdout;
  const want = probe('dist/twill-cni.cjs');
  const got = probe(tmp);
  if (!want.includes('supportedVersions') || got !== want) {
    rmSync(tmp, { force: true });
    return useNode(`the compiled shim answered VERSION with ${JSON.stringify(got.slice(0, 120))}`);
  }
  renameSync(tmp, out);
  const runtime = `bun ${version.stdout.trim()}`;
  writeFileSync('dist/twill-cni.runtime', `${runtime}\n`);
  return runtime;
}

// Bundles the entry points with esbuild. Native or file-loading packages stay external and are
// resolved from node_modules at run time (netlink and koffi ship prebuilt .node files; etcd3 loads
// .proto files).
import { build } from 'esbuild';
import { chmodSync, mkdirSync } from 'node:fs';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
};

mkdirSync('dist', { recursive: true });
const started = Date.now();
await Promise.all([
  // The CNI shim: node builtins only, nothing heavy, no source maps (start-up time is pod start-up
  // time). CommonJS, because Node's ES-module loader alone costs ~7 ms per start; self-contained
  // and executable, so bin/twill-cni can be a symlink to it and copying it anywhere just works.
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
  build({
    ...common,
    entryPoints: { twill: 'src/cli/main.ts' },
    outdir: 'dist',
    external: ['netlink', 'etcd3', 'koffi'],
    // Bundled CommonJS deps expect require(); give ESM output one.
    banner: { js: "import { createRequire as __twillCreateRequire } from 'node:module'; const require = __twillCreateRequire(import.meta.url);" },
  }),
]);
console.log(`build: dist/ in ${Date.now() - started} ms`);

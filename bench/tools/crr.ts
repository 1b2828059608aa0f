// The path of the `crr` load generator (bench/tools/crr, Go, standard library only), built on
// first use into the externals cache under a name that carries its source's hash, so an edit
// rebuilds it and a second run does not. Go is already needed for the Kubernetes parts.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('./crr/', import.meta.url));

export function crrBinary(): string {
  const hash = createHash('sha256').update(readFileSync(join(SRC, 'main.go'))).update(readFileSync(join(SRC, 'go.mod'))).digest('hex').slice(0, 12);
  const dir = join(process.env['TWILL_EXTERNALS'] ?? '/var/cache/twill/externals', `bench-crr-${hash}`);
  const bin = join(dir, 'crr');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`[bench] building the crr load generator (bench/tools/crr) into ${dir}\n`);
  const r = spawnSync('go', ['build', '-o', `${bin}.tmp`, '.'], {
    cwd: SRC,
    encoding: 'utf8',
    env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-buildvcs=false' },
  });
  if (r.error || r.status !== 0) {
    throw new Error(`cannot build bench/tools/crr (${r.error ? r.error.message : r.stderr.trim()}); it needs Go on PATH, as the Kubernetes parts do (scripts/externals/build.sh)`);
  }
  renameSync(`${bin}.tmp`, bin);
  return bin;
}

// Where the installed project lives, so the lab and tests can start `bin/twill` and find
// `bin/twill-cni` whether running from dist/ (bundled) or from src/ (tsx).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function projectRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'twill') {
      cached = dir;
      return dir;
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the Twill project root (package.json named "twill")');
}

export const twillBin = (): string => join(projectRoot(), 'bin', 'twill');
export const twillCniDir = (): string => join(projectRoot(), 'bin');

/** What the built bin/twill-cni runs on (`node`, or `bun <version>` for the compiled shim; scripts/build.mjs writes it). */
export function shimRuntime(): string {
  const file = join(projectRoot(), 'dist', 'twill-cni.runtime');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : 'node';
}

/** The Node bundle the shim is built from (what bin/twill-cni is when the runtime is `node`). */
export const nodeShimBundle = (): string => join(projectRoot(), 'dist', 'twill-cni.cjs');

// Golden files: compare generated text with the file; UPDATE_GOLDEN=1 rewrites it instead (then
// read every rewritten file before committing it). One helper for every compiler's tests.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export function assertGolden(file: string | URL, actual: string): void {
  const path = typeof file === 'string' ? file : fileURLToPath(file);
  if (process.env['UPDATE_GOLDEN'] === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  assert.ok(existsSync(path), `golden file ${path} is missing; run with UPDATE_GOLDEN=1 to create it`);
  assert.equal(actual, readFileSync(path, 'utf8'), `output differs from ${path} (UPDATE_GOLDEN=1 rewrites it; review the diff)`);
}

// Test helpers for memory: a full GC on demand (without starting node with --expose-gc) and the
// heap a value keeps alive, measured as the difference of used heap after full collections.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Used heap in bytes after two full collections. */
export function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** The bytes of heap `build()`'s result keeps alive (it is held until measured, then dropped). */
export function retainedBy(build: () => unknown): number {
  const before = heapAfterGc();
  let kept: unknown = build();
  const after = heapAfterGc();
  // Read after the measurement, so the value cannot be collected before it.
  if (kept === Symbol.for('never')) throw new Error('unreachable');
  kept = undefined;
  return after - before;
}

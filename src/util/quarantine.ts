// A state file the agent cannot read or trust is never deleted and never silently skipped: it is
// moved to `<stateDir>/quarantine/` under a name that says where it came from and when, so the
// operator can inspect it and the agent does not trip over it again at the next start.
import { mkdirSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describeError } from './errors.js';

export interface Quarantined {
  file: string;
  /** Where it went; undefined when it could not be moved (then `moveError` says why). */
  movedTo?: string;
  moveError?: string;
}

/** `<stateDir>/quarantine/<kind>-<name>.<ISO time>`; never throws. */
export function quarantineFile(file: string, stateDir: string, kind: string): Quarantined {
  const dir = join(stateDir, 'quarantine');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dest = join(dir, `${kind}-${basename(file)}.${stamp}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    renameSync(file, dest);
    return { file, movedTo: dest };
  } catch (e) {
    return { file, moveError: describeError(e) };
  }
}

/** The state directory a file in `<stateDir>/<sub>/` belongs to. */
export function stateDirOf(dirInState: string): string {
  return dirname(dirInState);
}

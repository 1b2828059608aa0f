// The state files checked while the agent runs, not only at start. Attachments, address records,
// the block cache and the policy cache are written by the agent and read back only at its next
// start: a file damaged in between (a disk error, a bad sector, a stray hand edit) would be found
// only then, after a restart that may already need it. Each owner compares its files with what
// it holds in memory, the truth while it runs; a damaged file is quarantined and rewritten from
// memory, and each repair is a warn line and a problem in `twill status` (for ten minutes: it
// is an event, already repaired). Tombstones are only checked (recovery.ts auditTombstones): their
// DELs run at start-up, before any ADD, and never while ADDs could reuse a container's name.
import { readFileSync } from 'node:fs';
import { describeError, errnoCode } from '../util/errors.js';
import { quarantineFile } from '../util/quarantine.js';
import type { Problems } from './problems.js';

export interface AuditFinding {
  kind: 'attachment' | 'address' | 'block-cache' | 'policy-cache' | 'tombstone';
  file: string;
  /** What was wrong with it. */
  damage: string;
  /** What the audit did about it. */
  repair: string;
  quarantinedTo?: string | undefined;
}

/** The file's text, or why it cannot be read (ENOENT: undefined text, no error). */
export function readState(file: string): { text?: string; error?: string } {
  try {
    return { text: readFileSync(file, 'utf8') };
  } catch (e) {
    return errnoCode(e) === 'ENOENT' ? {} : { error: describeError(e) };
  }
}

/** Moves a damaged file aside (if it is there) before it is rewritten from memory. */
export function quarantineDamaged(file: string, stateDir: string, kind: string, present: boolean): string | undefined {
  if (!present) return undefined;
  const q = quarantineFile(file, stateDir, kind);
  return q.movedTo ?? `not moved (${q.moveError ?? 'unknown'})`;
}

export type Auditor = () => AuditFinding[] | Promise<AuditFinding[]>;

export class StateAudit {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  runs = 0;
  repaired = 0;

  constructor(
    private readonly auditors: Auditor[],
    private readonly problems: Problems,
  ) {}

  start(everySeconds: number): void {
    if (everySeconds <= 0) return;
    this.timer = setInterval(() => void this.runOnce(), everySeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass over every state directory; returns what it found (and repaired). */
  async runOnce(): Promise<AuditFinding[]> {
    if (this.running) return [];
    this.running = true;
    const found: AuditFinding[] = [];
    try {
      for (const a of this.auditors) {
        try {
          found.push(...(await a()));
        } catch (e) {
          this.problems.report('state-audit', 'error', 'cannot check the agent state files; retried at the next pass', { error: describeError(e) });
        }
      }
      this.runs++;
    } finally {
      this.running = false;
    }
    for (const f of found) {
      this.repaired++;
      const id = `state-file:${f.kind}:${f.file}`;
      this.problems.event(id, 'warn', `a ${f.kind} file was damaged while the agent ran (${f.damage}); ${f.repair}`, { file: f.file, quarantinedTo: f.quarantinedTo });
    }
    if (found.length === 0) this.problems.clear('state-audit');
    return found;
  }

  status(): Record<string, unknown> {
    return { runs: this.runs, repaired: this.repaired };
  }
}

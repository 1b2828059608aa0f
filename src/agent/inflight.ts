// What the previous agent was doing when it died. Each ADD, DEL, GC and block claim writes an
// intent file under `<stateDir>/inflight/` before it starts and removes it when it ends, and the
// agent keeps `<stateDir>/agent.running` while it runs (removed by a clean stop). A restart that
// finds the marker knows the previous agent was killed or crashed, and the intents left behind
// name the operations it interrupted: the start-up warning and `twill status` say which, next to
// what recovery repaired. Recovery itself never depends on these files (the kernel and the
// records are its evidence), so a journal write that fails only costs that naming.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

export type InflightOp = 'ADD' | 'DEL' | 'GC' | 'claim';

export interface Interrupted {
  op: InflightOp;
  what: string;
  startedAt: string;
}

export interface PreviousRun {
  /** True when the previous agent did not stop cleanly (killed, crashed, the node lost power). */
  unclean: boolean;
  pid?: number;
  startedAt?: string;
  interrupted: Interrupted[];
}

export class InflightJournal {
  private readonly dir: string;
  private readonly marker: string;
  private seq = 0;
  /** Why the last intent could not be written (shown in status; the operation went on). */
  lastWriteError: string | undefined;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'inflight');
    this.marker = join(stateDir, 'agent.running');
  }

  /**
   * Reads what the previous agent left (marker and intents), then clears it and writes this
   * agent's marker. Call once, before recovery.
   */
  takeOver(): PreviousRun {
    let prev: { pid?: number; startedAt?: string } | undefined;
    try {
      prev = JSON.parse(readFileSync(this.marker, 'utf8')) as typeof prev;
    } catch (e) {
      // A marker that exists but cannot be parsed still says the previous agent did not stop cleanly.
      prev = (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : {};
    }
    const interrupted: Interrupted[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const n of names) {
      const file = join(this.dir, n);
      try {
        interrupted.push(JSON.parse(readFileSync(file, 'utf8')) as Interrupted);
      } catch {
        // why: an intent cut short by the kill itself; the operation is still named by its file.
        interrupted.push({ op: (n.split('-')[0] ?? 'ADD') as InflightOp, what: `(intent ${n} unreadable)`, startedAt: '' });
      }
      rmSync(file, { force: true, recursive: true });
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileSync(this.marker, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }) + '\n');
    interrupted.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    return { unclean: prev !== undefined || interrupted.length > 0, ...(prev?.pid ? { pid: prev.pid } : {}), ...(prev?.startedAt ? { startedAt: prev.startedAt } : {}), interrupted };
  }

  /** Records that `op` starts; the returned function records that it ended (however it ended). */
  begin(op: InflightOp, what: string): () => void {
    const file = join(this.dir, `${op}-${createHash('sha256').update(what).digest('hex').slice(0, 12)}-${++this.seq}.json`);
    try {
      writeFileSync(file, JSON.stringify({ op, what, startedAt: new Date().toISOString() } satisfies Interrupted));
    } catch (e) {
      // why: the journal only names interrupted work after a kill; recovery never depends on it,
      // so a full or broken disk must not fail the operation here (its own writes say so).
      this.lastWriteError = String(e);
      return () => undefined;
    }
    return () => rmSync(file, { force: true });
  }

  /** A clean stop: the next start is not reported as a restart after a kill. */
  close(): void {
    rmSync(this.marker, { force: true });
  }
}

/** One line naming what a killed agent left: "ADD c1/eth0, claim node-3". */
export function describeInterrupted(list: Interrupted[]): string {
  return list.length ? list.map((i) => `${i.op} ${i.what}`).join(', ') : 'no operation in flight';
}

// Faults the agent knows about and has not got over: a quarantined state file, a node that cannot
// register, DELs it could not finish. Each report is logged (warn or error) every time it happens,
// and the open ones are listed by `twill status`, so an operator never has to find them in a log.
import type { Logger } from '../util/log.js';

export interface Problem {
  /** Stable key: reporting the same id again updates the entry instead of adding one. */
  id: string;
  level: 'warn' | 'error';
  message: string;
  since: string;
  lastAt: string;
  count: number;
  details?: Record<string, unknown>;
}

export class Problems {
  private readonly open = new Map<string, Problem>();

  constructor(private readonly log: Logger) {}

  report(id: string, level: 'warn' | 'error', message: string, details?: Record<string, unknown>): void {
    const now = new Date().toISOString();
    const was = this.open.get(id);
    this.open.set(id, { id, level, message, since: was?.since ?? now, lastAt: now, count: (was?.count ?? 0) + 1, ...(details ? { details } : {}) });
    this.log.log(level, message, { problem: id, ...details, ...(was ? { times: was.count + 1 } : {}) });
  }

  /**
   * A fault that is over as soon as it is seen (a restart after a kill, a file repaired, a record
   * written back): reported like a problem and listed for `listMs` (ten minutes) so that
   * `twill status` shows it after the fact, then cleared.
   */
  event(id: string, level: 'warn' | 'error', message: string, details?: Record<string, unknown>, listMs = 600_000): void {
    this.report(id, level, message, details);
    clearTimeout(this.expiry.get(id));
    const t = setTimeout(() => {
      this.expiry.delete(id);
      this.clear(id);
    }, listMs);
    t.unref();
    this.expiry.set(id, t);
  }

  private readonly expiry = new Map<string, NodeJS.Timeout>();

  /** The fault is over: logged once at info, then no longer listed. */
  clear(id: string, message?: string): void {
    const was = this.open.get(id);
    if (!was) return;
    this.open.delete(id);
    this.log.info(message ?? `resolved: ${was.message}`, { problem: id, after: was.count });
  }

  has(id: string): boolean {
    return this.open.has(id);
  }

  list(): Problem[] {
    return [...this.open.values()].sort((a, b) => a.since.localeCompare(b.since));
  }
}

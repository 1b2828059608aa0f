// The reconcile scheduler every subsystem shares: triggers are coalesced (a short debounce), runs
// never overlap, a slow timer re-runs as a safety net, and a failed run is retried with backoff.
// The work itself (snapshot → compile → diff/apply) is the caller's `run` function.
import { describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export interface ReconcileOutcome {
  /** Kernel changes made by this run (0 = the datapath already matched). */
  changes: number;
  detail?: Record<string, unknown>;
}

export interface ReconcilerStatus {
  name: string;
  runs: number;
  lastRunAt?: string;
  lastDurationMs?: number;
  lastChanges?: number;
  lastError?: string;
  consecutiveFailures: number;
  /** Failed runs since the agent started, and the last one (kept after later runs succeed). */
  failures: number;
  lastFailure?: { at: string; error: string };
  /** Kernel changes made by every run since the agent started. */
  totalChanges: number;
}

export interface ReconcilerOptions {
  debounceMs?: number;
  periodMs?: number;
  maxBackoffMs?: number;
}

/** One finished run, for metrics. */
export interface ReconcileRun {
  controller: string;
  seconds: number;
  ok: boolean;
  /** The error's code when it failed (KERNEL: the kernel refused a change). */
  errorCode?: string;
}
const runObservers = new Set<(r: ReconcileRun) => void>();
/** Calls `fn` after every run of every reconciler in this process; returns the unsubscribe. */
export function observeReconciles(fn: (r: ReconcileRun) => void): () => void {
  runObservers.add(fn);
  return () => runObservers.delete(fn);
}

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly st: ReconcilerStatus;
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    private readonly work: (reason: string) => Promise<ReconcileOutcome>,
    private readonly log: Logger,
    private readonly opts: ReconcilerOptions = {},
  ) {
    this.st = { name, runs: 0, consecutiveFailures: 0, failures: 0, totalChanges: 0 };
  }

  start(): void {
    const period = this.opts.periodMs ?? 30_000;
    if (period > 0) {
      this.periodic = setInterval(() => this.trigger('periodic'), period);
      this.periodic.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.periodic);
  }

  /** Requests a run soon; many triggers within the debounce window make one run. */
  trigger(reason: string): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.runOnce(reason).finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.trigger('changes during the last run');
        }
      });
    }, this.opts.debounceMs ?? 20);
  }

  /** Runs now (awaitable), e.g. at start-up. */
  async runNow(reason: string): Promise<void> {
    while (this.running) await this.running;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.runOnce(reason);
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** Resolves after the next run that starts after this call completes. */
  settled(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  private async runOnce(reason: string): Promise<void> {
    const t0 = performance.now();
    const waiters = this.waiters.splice(0);
    try {
      const out = await this.work(reason);
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      Object.assign(this.st, { runs: this.st.runs + 1, lastRunAt: new Date().toISOString(), lastDurationMs: ms, lastChanges: out.changes, lastError: undefined, consecutiveFailures: 0, totalChanges: this.st.totalChanges + out.changes });
      for (const o of runObservers) o({ controller: this.name, seconds: ms / 1000, ok: true });
      const level = out.changes > 0 ? 'info' : 'debug';
      this.log.log(level, `reconcile: ${out.changes} change${out.changes === 1 ? '' : 's'}`, { reason, ms, ...out.detail });
    } catch (e) {
      this.st.consecutiveFailures++;
      const at = new Date().toISOString();
      const code = (e as { code?: unknown }).code;
      for (const o of runObservers) o({ controller: this.name, seconds: (performance.now() - t0) / 1000, ok: false, ...(typeof code === 'string' ? { errorCode: code } : {}) });
      Object.assign(this.st, { runs: this.st.runs + 1, lastRunAt: at, lastError: describeError(e), failures: this.st.failures + 1, lastFailure: { at, error: describeError(e) } });
      const backoff = Math.min(this.opts.maxBackoffMs ?? 10_000, 200 * 2 ** Math.min(this.st.consecutiveFailures, 8));
      this.log.warn('reconcile failed; will retry', { reason, error: describeError(e), retryInMs: backoff });
      if (!this.stopped) {
        const t = setTimeout(() => this.trigger('retry after failure'), backoff);
        t.unref();
      }
    } finally {
      for (const w of waiters) w();
    }
  }

  status(): ReconcilerStatus {
    return { ...this.st };
  }
}

// Stores call user callbacks (watch events, status, lease loss) from their own event loops. A
// throwing handler is a bug in the caller; it must not kill the watch or the keep-alive.
import { rootLogger } from '../util/log.js';

const log = rootLogger.child('datastore');

export function callSafely(what: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    log.error(`${what} handler threw; the store carries on`, { error: e });
  }
}

/** Runs the registered callbacks at most once, including ones registered after it fired. */
export class Once {
  private fired = false;
  private readonly cbs: (() => void)[] = [];

  constructor(private readonly what: string) {}

  get done(): boolean {
    return this.fired;
  }

  add(cb: () => void): void {
    if (this.fired) queueMicrotask(() => callSafely(this.what, cb));
    else this.cbs.push(cb);
  }

  fire(): void {
    if (this.fired) return;
    this.fired = true;
    for (const cb of this.cbs.splice(0)) callSafely(this.what, cb);
  }
}

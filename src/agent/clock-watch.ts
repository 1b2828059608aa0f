// Notices wall-clock jumps (an NTP step, a wrong RTC fixed at boot): the wall clock moving more
// or less than the monotonic clock between two checks. Nothing in the agent times a grace period
// or a lease on the wall clock, so a jump changes no decision; it is reported because timestamps
// in logs and records jump with it, and an operator reading them should know.
import type { Problems } from './problems.js';

const TOLERANCE_MS = 5_000;

export class ClockWatch {
  private wall: number;
  private mono: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly problems: Problems,
    private readonly wallMs: () => number = () => Date.now(),
    private readonly monoMs: () => number = () => performance.now(),
  ) {
    this.wall = wallMs();
    this.mono = monoMs();
  }

  start(everyMs = 2_000): void {
    this.timer = setInterval(() => this.check(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Compares the two clocks since the last check; returns the jump in ms (0: none). */
  check(): number {
    const wall = this.wallMs();
    const mono = this.monoMs();
    const jump = Math.round(wall - this.wall - (mono - this.mono));
    this.wall = wall;
    this.mono = mono;
    if (Math.abs(jump) < TOLERANCE_MS) return 0;
    this.problems.report('clock-jump', 'warn', `the wall clock jumped by ${jump > 0 ? '+' : ''}${Math.round(jump / 1000)} s; grace periods and leases run on monotonic time and are not affected, log and record timestamps are`, { jumpMs: jump, now: new Date(wall).toISOString() });
    return jump;
  }
}

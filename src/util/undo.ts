// ADD's undo stack (the reference bridge plugin's `defer if !success` idea, made explicit): every
// step that changes something pushes its inverse; on failure the stack unwinds in reverse order
// and every inverse runs even if an earlier one fails.
import { describeError } from './errors.js';

export class UndoStack {
  private readonly steps: { what: string; fn: () => Promise<unknown> }[] = [];

  push(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn });
  }

  /** Success: forget the inverses. */
  commit(): void {
    this.steps.length = 0;
  }

  /** Failure: run every inverse, newest first. Returns descriptions of inverses that failed. */
  async unwind(): Promise<string[]> {
    const failed: string[] = [];
    while (this.steps.length) {
      const s = this.steps.pop()!;
      try {
        await s.fn();
      } catch (e) {
        failed.push(`${s.what}: ${describeError(e)}`);
      }
    }
    return failed;
  }
}

// Kernel-test resources that must not outlive the test: network namespaces, child processes,
// temporary directories. Names carry the test process id so parallel runs never collide.
// Call `scope.cleanup()` from `after()`; it runs every undo even if some fail. SIGINT or SIGTERM
// (an interrupted run, a benchmark stopped by hand) cleans up every live scope before exiting;
// SIGKILL cannot be caught, and what it leaves must be removed by hand (`ip netns list`).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, deleteNetns, netnsPath } from '../../src/dataplane/kernel/netns.js';

let counter = 0;

/** A short unique name: `prefix` + pid + counter, within the 15 chars a link name allows if asked. */
export function uniqueName(prefix: string, maxLen = 40): string {
  const n = `${prefix}${process.pid.toString(36)}${(counter++).toString(36)}`;
  return n.slice(0, maxLen);
}

const live = new Set<TestScope>();
let signalled = false;
function onSignal(signal: NodeJS.Signals): void {
  if (signalled) return;
  signalled = true;
  process.stderr.write(`${signal}: removing what the tests created\n`);
  void Promise.allSettled([...live].map((s) => s.cleanup())).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
}

export class TestScope {
  private readonly undo: (() => Promise<void> | void)[] = [];

  constructor() {
    if (live.size === 0) {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
    live.add(this);
  }

  defer(fn: () => Promise<void> | void): void {
    this.undo.push(fn);
  }

  async netns(prefix = 'tw-t-'): Promise<{ name: string; path: string }> {
    const name = uniqueName(prefix);
    await createNetns(name);
    this.defer(() => deleteNetns(name));
    return { name, path: netnsPath(name) };
  }

  async tmpdir(prefix = 'twill-test-'): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), prefix));
    this.defer(() => rm(d, { recursive: true, force: true }));
    return d;
  }

  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.defer(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    });
    return child;
  }

  async cleanup(): Promise<void> {
    live.delete(this);
    if (live.size === 0 && !signalled) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const errors: unknown[] = [];
    while (this.undo.length) {
      const fn = this.undo.pop()!;
      try {
        await fn();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw new AggregateError(errors, `cleanup: ${errors.length} step(s) failed`);
  }
}

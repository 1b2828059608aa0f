// Entering another network namespace from the agent's own thread, for the moment it takes to open
// a socket there. A socket belongs to the namespace of the thread that created it and keeps it
// after the thread leaves, so an rtnetlink socket opened inside a pod's namespace configures that
// pod at ~0.2 ms per request — the pod side of an ADD without an `ip` exec (4–5 ms on the 2-core
// CI machine). This is what Go plugins do with runtime.LockOSThread + netns.Do.
//
// setns(2) has no Node API; it is called through koffi (an FFI with prebuilt binaries). setns on a
// thread changes only that thread; the switch is synchronous (nothing else of the agent runs
// while the thread is elsewhere), and the thread always switches back. If switching back ever
// failed, this process would be in the wrong namespace: it stops at once rather than go on.
// Without koffi, or on a platform without setns, callers fall back to running `ip` inside the
// namespace (netns.ts); `TWILL_NETNS_EXEC=1` forces that fallback (tests use it for coverage).
import { closeSync, openSync } from 'node:fs';
import { describeError, TwillError } from '../../util/errors.js';
import { loadLibc } from './libc.js';

const CLONE_NEWNET = 0x40000000;

interface Entry {
  setns: (fd: number, nstype: number) => number;
  errno: () => number;
  /** This thread's own namespace, held open for the life of the process. */
  homeFd: number;
}

let entry: Entry | null | undefined;
let unavailable = '';

function load(): Entry | null {
  if (entry !== undefined) return entry;
  entry = null;
  if (process.env['TWILL_NETNS_EXEC'] === '1') {
    unavailable = 'TWILL_NETNS_EXEC=1 is set';
    return null;
  }
  if (process.platform !== 'linux') {
    unavailable = `setns(2) is Linux-only (this is ${process.platform})`;
    return null;
  }
  try {
    const libc = loadLibc();
    const setns = libc.func('int setns(int fd, int nstype)') as Entry['setns'];
    // The main thread is the thread-group leader: /proc/thread-self is this thread.
    const homeFd = openSync('/proc/thread-self/ns/net', 'r');
    entry = { setns, errno: () => libc.errno(), homeFd };
  } catch (e) {
    unavailable = `koffi could not bind setns(2): ${describeError(e)}`;
  }
  return entry;
}

/** Whether namespaces can be entered in-process; otherwise why not (for the start-up log). */
export function netnsEntrySupport(): { ok: true } | { ok: false; why: string } {
  return load() ? { ok: true } : { ok: false, why: unavailable };
}

/** How pod namespaces get configured, as the agent reports it (ready line, `twill status`). */
export function podNetnsMethod(): 'setns' | 'ip-exec' {
  return load() ? 'setns' : 'ip-exec';
}

/**
 * Runs `fn` with this thread inside the network namespace at `path`, and returns its result. `fn`
 * must be synchronous and short: it is meant to open sockets, nothing else. Returns undefined
 * (without calling fn) when in-process entry is unavailable.
 */
export function inNetns<T>(path: string, fn: () => T): T | undefined {
  const e = load();
  if (!e) return undefined;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new TwillError('KERNEL', `cannot open network namespace ${path}: ${describeError(err)}`, { cause: err });
  }
  try {
    if (e.setns(fd, CLONE_NEWNET) !== 0) {
      const errno = e.errno();
      throw new TwillError(
        'KERNEL',
        errno === 22 ? `${path} is not a network namespace` : `cannot enter network namespace ${path}: errno ${errno}`,
      );
    }
    try {
      return fn();
    } finally {
      if (e.setns(e.homeFd, CLONE_NEWNET) !== 0) {
        process.stderr.write(`twill: FATAL: could not return to this process's own network namespace after entering ${path} (errno ${e.errno()}); exiting\n`);
        process.exit(70);
      }
    }
  } finally {
    closeSync(fd);
  }
}

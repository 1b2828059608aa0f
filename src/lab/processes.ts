// Long-lived lab processes (agents, etcd, pod servers): started detached inside a namespace,
// logging to a file, remembered by pid file so any later `twill lab …` can stop them.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TwillError } from '../util/errors.js';

export interface DetachedSpec {
  /** Named network namespace to run in; undefined = the caller's. */
  netns?: string;
  argv: string[];
  logFile: string;
  pidFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export async function startDetached(spec: DetachedSpec): Promise<number> {
  await mkdir(dirname(spec.logFile), { recursive: true });
  await mkdir(dirname(spec.pidFile), { recursive: true });
  const fd = openSync(spec.logFile, 'a');
  const [cmd, ...args] = spec.netns ? ['ip', 'netns', 'exec', spec.netns, ...spec.argv] : spec.argv;
  try {
    const child = spawn(cmd!, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: spec.cwd,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: '', ...spec.env },
    });
    const pid = child.pid;
    if (pid === undefined) throw new TwillError('IO', `cannot start ${spec.argv.join(' ')}`);
    child.unref();
    await writeFile(spec.pidFile, `${pid}\n`);
    return pid;
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // why: read-only liveness probe: kill(0) fails once the process is gone
    return false;
  }
}

export async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(pidFile, 'utf8')).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    // why: read-only: no pid file, no process
    return undefined;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; harmless if the process is gone. */
export async function stopPid(pid: number, graceMs = 3000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    // why: already gone (ESRCH): nothing to stop
    return;
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!isAlive(pid)) return;
    await sleep(20);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // why: already gone (ESRCH): nothing to stop
    return;
  }
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(10);
}

export async function stopPidFile(pidFile: string, graceMs?: number): Promise<void> {
  const pid = await readPid(pidFile);
  if (pid !== undefined) await stopPid(pid, graceMs);
  await rm(pidFile, { force: true });
}

/**
 * Polls `probe` until it returns true or `timeoutMs` passes. A probe that throws counts as "not
 * yet"; `abortIf` returning a reason ends the wait at once (e.g. the process being waited for
 * exited: waiting on would only turn a clear error into a timeout).
 */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 25, abortIf?: () => string | undefined): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const abort = abortIf?.();
    if (abort) throw new TwillError('INTERNAL', `${what}: ${abort}`);
    // why: a probe that fails means not ready yet; the timeout below reports
    if (await probe().catch(() => false)) return;
    if (Date.now() > until) throw new TwillError('TIMEOUT', `${what}: not ready after ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

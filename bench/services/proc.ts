// Processes and namespaces of the Services bench: every child and namespace it starts is tracked
// here, so main.ts removes them all at the end, even on failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';

export const children = new Set<ChildProcess>();
export const namespaces = new Set<string>();

export const log = (m: string): void => void process.stderr.write(`[bench:services ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

/** Runs a command to completion; throws with its stderr unless `ok` (then a failure answers ''). */
export function sh(argv: string[], ok = false): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0 && !ok) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.status === 0 ? r.stdout : '';
}

/** The command run inside network namespace `ns`. */
export const nsx = (ns: string, argv: string[]): string[] => ['nsenter', `--net=/run/netns/${ns}`, '--', ...argv];

/** Starts a tracked child in a process group of its own (stderr to `logFile` when given). */
export function start(argv: string[], logFile?: string, env?: Readonly<Record<string, string>>): ChildProcess {
  const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', logFile ? 'pipe' : 'inherit'], detached: true, ...(env ? { env: { ...process.env, ...env } } : {}) });
  children.add(c);
  c.once('exit', () => children.delete(c));
  if (logFile) c.stderr!.pipe(createWriteStream(logFile));
  return c;
}

/** The last lines of a log `start` wrote (for an error: the run directory is removed at the end). */
export function tail(logFile: string, lines = 12): string {
  if (!existsSync(logFile)) return '(no log)';
  return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** SIGSTOP (`freeze`) or SIGCONT to the child's process group: a frozen proxy leaves its table in the kernel as it was. */
export function freeze(c: ChildProcess, on: boolean): void {
  if (c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(-c.pid!, on ? 'SIGSTOP' : 'SIGCONT');
  } catch {
    // why: the group is already gone.
  }
}

/** SIGTERM to the child's process group (continued first, in case it was frozen), SIGKILL after 3 s. */
export async function stop(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  freeze(c, false);
  const gone = new Promise((r) => c.once('exit', r));
  try {
    process.kill(-c.pid!, 'SIGTERM');
  } catch {
    // why: the group is already gone.
    return;
  }
  const t = setTimeout(() => {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // why: it exited between the two signals.
    }
  }, 3000);
  await gone;
  clearTimeout(t);
}

/** The child's first line of stdout (helpers print one when ready or done). */
export const firstLine = (c: ChildProcess, timeoutMs = 20_000): Promise<string> =>
  new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error(`no output from ${c.spawnfile} within ${timeoutMs / 1000} s`)), timeoutMs);
    c.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(t);
        res(buf.slice(0, i));
      }
    });
    c.once('exit', (code) => rej(new Error(`${c.spawnfile} exited with ${code} before printing a line`)));
  });

export const load = (): number[] => sh(['cat', '/proc/loadavg']).split(' ').slice(0, 3).map(Number);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Detached control-plane and node processes. Inside a namespace they are started with
// `nsenter --net=…` — not `ip netns exec`, which remounts /sys and leaves the kubelet without the
// cgroup hierarchies it needs.
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { TwillError } from '../../util/errors.js';
import { isAlive, startDetached } from '../processes.js';

export interface ProcSpec {
  /** Name for pid/log files and messages: <dir>/<name>.pid, <dir>/<name>.log. */
  name: string;
  dir: string;
  netns?: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
}

/** No proxy may carry lab traffic anywhere: the children never see proxy settings. */
const NO_PROXY_ENV: NodeJS.ProcessEnv = { HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '', NO_PROXY: '*', no_proxy: '*' };

export const pidFileOf = (p: Pick<ProcSpec, 'dir' | 'name'>): string => join(p.dir, `${p.name}.pid`);
export const logFileOf = (p: Pick<ProcSpec, 'dir' | 'name'>): string => join(p.dir, `${p.name}.log`);

export function inNetns(netns: string | undefined, argv: string[]): string[] {
  return netns ? ['nsenter', `--net=/run/netns/${netns}`, '--', ...argv] : argv;
}

export function startProc(p: ProcSpec): Promise<number> {
  return startDetached({ argv: inNetns(p.netns, p.argv), logFile: logFileOf(p), pidFile: pidFileOf(p), cwd: p.dir, env: { ...NO_PROXY_ENV, ...p.env } });
}

export async function logTail(p: Pick<ProcSpec, 'dir' | 'name'>, lines = 15): Promise<string> {
  // why: read-only: a log tail for an error message
  const text = (await readFile(logFileOf(p), 'utf8').catch(() => '')).trim();
  return text.split('\n').slice(-lines).join('\n');
}

/** An error naming the process, whether it died, and the end of its log. */
export async function procFailed(p: Pick<ProcSpec, 'dir' | 'name'>, pid: number, what: string, cause?: unknown): Promise<TwillError> {
  const state = isAlive(pid) ? 'is running but not ready' : 'exited';
  return new TwillError('INTERNAL', `${p.name} ${state}: ${what}\n--- ${logFileOf(p)} (end) ---\n${await logTail(p)}`, { cause });
}

// Network namespaces as files. The agent reaches a pod's namespace by path (CNI_NETNS); the lab and
// the tests create named namespaces under /run/netns with `ip netns`.
import { existsSync, statSync } from 'node:fs';
import { run } from './exec.js';
import { shellPool } from './shell.js';

export const NETNS_DIR = '/run/netns';

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export function netnsExists(pathOrName: string): boolean {
  return existsSync(pathOrName.includes('/') ? pathOrName : netnsPath(pathOrName));
}

let nsfsDev: number | undefined;

/**
 * True when `path` is a namespace file (a netns bind mount or /proc/PID/ns/net): namespace files
 * all live on the nsfs pseudo-filesystem, whose device is the one of our own namespace file.
 */
export function isNamespaceFile(path: string): boolean {
  try {
    nsfsDev ??= statSync('/proc/self/ns/net').dev;
    return statSync(path).dev === nsfsDev;
  } catch {
    // why: read-only probe: a path that cannot be stat-ed is no namespace
    return false;
  }
}

/** Creates a named namespace; harmless if it exists. */
export async function createNetns(name: string): Promise<string> {
  if (!netnsExists(name)) await run('ip', ['netns', 'add', name]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return netnsPath(name);
}

/** Deletes a named namespace; harmless if it is gone. */
export async function deleteNetns(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  await run('ip', ['netns', 'delete', name]).catch(async (e: unknown) => {
    if (netnsExists(name)) throw e;
  });
}

export async function listNetns(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

/** `ip` arguments that select a namespace: `-n NAME` for named ones (one exec), else nsenter. */
function ipIn(netnsPath: string, args: string[]): [string, string[]] {
  const m = /^(?:\/var)?\/run\/netns\/([^/]+)$/.exec(netnsPath);
  if (m) return ['ip', ['-n', m[1]!, ...args]];
  return ['nsenter', [`--net=${netnsPath}`, '--', 'ip', ...args]];
}

/**
 * Runs several `ip` commands inside a namespace with one `ip -batch -`, started by a resident
 * helper shell (shell.ts) rather than by forking this process.
 */
export async function ipBatchInNetns(netnsPath: string, commands: string[]): Promise<void> {
  const [cmd, args] = ipIn(netnsPath, ['-batch', '-']);
  await shellPool().run([cmd, ...args], commands.join('\n') + '\n');
}

/** `ip -json …` inside a namespace, parsed. */
export async function ipJsonInNetns<T>(netnsPath: string, args: string[]): Promise<T> {
  const [cmd, a] = ipIn(netnsPath, ['-json', ...args]);
  const { stdout } = await run(cmd, a);
  return JSON.parse(stdout || '[]') as T;
}

/** A plain `ip …` inside a namespace. */
export async function ipInNetns(netnsPath: string, args: string[]): Promise<string> {
  const [cmd, a] = ipIn(netnsPath, args);
  return (await run(cmd, a)).stdout;
}

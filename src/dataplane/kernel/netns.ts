// Network namespaces as files. The agent reaches a pod's namespace by path (CNI_NETNS); the lab and
// the tests create named namespaces under /run/netns with `ip netns`.
import { existsSync } from 'node:fs';
import { writeFile, mkdir, rm } from 'node:fs/promises';
import { run, runInNetns } from './exec.js';

export const NETNS_DIR = '/run/netns';

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export function netnsExists(pathOrName: string): boolean {
  return existsSync(pathOrName.includes('/') ? pathOrName : netnsPath(pathOrName));
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

/**
 * Runs several `ip` commands inside a namespace with one exec (`ip -batch`), ~4 ms in all.
 * The batch file is written under `scratchDir` and removed afterwards.
 */
export async function ipBatchInNetns(netnsPath: string, commands: string[], scratchDir: string): Promise<void> {
  await mkdir(scratchDir, { recursive: true });
  const file = `${scratchDir}/ip-batch-${process.pid}-${Math.random().toString(36).slice(2)}.txt`;
  await writeFile(file, commands.join('\n') + '\n');
  try {
    await runInNetns(netnsPath, 'ip', ['-batch', file]);
  } finally {
    await rm(file, { force: true });
  }
}

/** `ip -json …` inside a namespace, parsed. */
export async function ipJsonInNetns<T>(netnsPath: string, args: string[]): Promise<T> {
  const { stdout } = await runInNetns(netnsPath, 'ip', ['-json', ...args]);
  return JSON.parse(stdout || '[]') as T;
}

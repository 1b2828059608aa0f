// sysctls of the calling process's network namespace (/proc/sys/net is per namespace).
import { readFile, writeFile } from 'node:fs/promises';
import { TwillError } from '../../util/errors.js';

function path(key: string): string {
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

export async function readSysctl(key: string): Promise<string> {
  return (await readFile(path(key), 'utf8')).trim();
}

/** Writes a sysctl only when it differs (no needless writes on every reconcile). */
export async function ensureSysctl(key: string, value: string): Promise<boolean> {
  try {
    if ((await readSysctl(key)) === value) return false;
    await writeFile(path(key), value);
    return true;
  } catch (e) {
    throw new TwillError('KERNEL', `cannot set sysctl ${key}=${value}`, { cause: e });
  }
}

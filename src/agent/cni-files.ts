// The two files a container runtime reads from the host: the twill-cni executable in its CNI bin
// dir (put there by `twill install-cni`, the DaemonSet's init container) and Twill's conflist in
// its CNI conf dir (written by the agent once it can serve ADD). Both are replaced by rename, so
// the runtime sees the old file or the new one, never half of one. The conflist's presence is what
// the kubelet reads as "the network is ready": it must not exist before the agent is.
import { chmod, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { TwillError } from '../util/errors.js';

export const CONFLIST_NAME = '10-twill.conflist';
export const CNI_PLUGIN_TYPE = 'twill-cni';

export function renderConflist(agentSocket: string): string {
  return `${JSON.stringify({ cniVersion: '1.1.0', name: 'twill', plugins: [{ type: CNI_PLUGIN_TYPE, agentSocket }] }, null, 2)}\n`;
}

async function sameContent(a: string, b: string | Buffer): Promise<boolean> {
  try {
    const cur = await readFile(a);
    return cur.equals(typeof b === 'string' ? Buffer.from(b) : b);
  } catch {
    // why: read-only comparison: a file that cannot be read differs, so it is rewritten
    return false;
  }
}

async function replaceFile(dest: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = join(dest, '..', `.${basename(dest)}.tmp-${process.pid}`);
  try {
    await write(tmp);
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new TwillError('IO', `cannot write ${dest}`, { cause: e, details: 'is the host directory mounted read-write?' });
  }
}

/** Writes Twill's conflist into `dir`; returns false when it was already there, unchanged. */
export async function writeConflist(dir: string, agentSocket: string): Promise<boolean> {
  const dest = join(dir, CONFLIST_NAME);
  const text = renderConflist(agentSocket);
  if (await sameContent(dest, text)) return false;
  await mkdir(dir, { recursive: true });
  await replaceFile(dest, (tmp) => writeFile(tmp, text, { mode: 0o644 }));
  return true;
}

/** Removes Twill's conflist (uninstall); true when there was one. */
export async function removeConflist(dir: string): Promise<boolean> {
  const dest = join(dir, CONFLIST_NAME);
  const had = await stat(dest).then(() => true, () => false);
  await rm(dest, { force: true });
  return had;
}

/**
 * Copies the CNI shim into the host's CNI bin dir as `twill-cni`. A runtime may be executing the
 * old file at that moment: rename replaces the directory entry and the running process keeps its
 * inode. Returns false when the same bytes were already installed.
 */
export async function installShim(from: string, toDir: string): Promise<boolean> {
  let bytes: Buffer;
  try {
    bytes = await readFile(from);
  } catch (e) {
    throw new TwillError('IO', `cannot read the CNI shim ${from}`, { cause: e, details: 'run `make build` (outside the image) or check --from' });
  }
  const dest = join(toDir, CNI_PLUGIN_TYPE);
  if (await sameContent(dest, bytes)) return false;
  await mkdir(toDir, { recursive: true });
  await replaceFile(dest, async (tmp) => {
    await copyFile(from, tmp);
    await chmod(tmp, 0o755);
  });
  return true;
}

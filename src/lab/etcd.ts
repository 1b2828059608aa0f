// The lab's own etcd: a detached process in the host namespace, listening on loopback (for the
// CLI) and on a unix socket file (for agents, which live in other network namespaces and reach
// it through the filesystem). Peers talk over a unix socket too, so no fixed TCP port is needed.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore } from '../datastore/index.js';
import { freePort } from '../datastore/etcd/index.js';
import { TwillError } from '../util/errors.js';
import { isAlive, readPid, startDetached, stopPidFile, waitFor } from './processes.js';

export interface LabEtcd {
  clientUrl: string;
  /** Path of the unix socket file (etcd appends ":0" to the name it is given). */
  socket: string;
  pid: number;
}

/**
 * Starts (or restarts, keeping data and `clientUrl`) the lab's etcd. Refuses while one is running:
 * a second etcd on the same data dir dies, but only after its pid replaced the live one's in the
 * pid file, so the live etcd would be orphaned (never stopped by `lab down`) and a later "stop"
 * would stop nothing, the old etcd serving on with its data.
 */
export async function startLabEtcd(dir: string, clientUrl0?: string): Promise<LabEtcd> {
  const running = await readPid(join(dir, 'etcd.pid'));
  if (running !== undefined && isAlive(running)) {
    throw new TwillError('EXISTS', `the lab's etcd is already running (pid ${running}, ${dir})`, { details: 'stop it first (twill lab datastore stop) to restart it' });
  }
  await mkdir(dir, { recursive: true });
  const port = clientUrl0 ? Number(new URL(clientUrl0).port) : await freePort();
  const clientUrl = `http://127.0.0.1:${port}`;
  const socket = join(dir, 'etcd.sock:0');
  const pid = await startDetached({
    cwd: dir,
    argv: [
      'etcd', '--name', 'lab', '--data-dir', join(dir, 'data'),
      '--listen-client-urls', `${clientUrl},unix://etcd.sock:0`, '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', 'unix://peer.sock:0', '--initial-advertise-peer-urls', 'unix://peer.sock:0',
      '--initial-cluster', 'lab=unix://peer.sock:0', '--auto-compaction-retention', '1h', '--log-level', 'warn',
    ],
    logFile: join(dir, 'etcd.log'),
    pidFile: join(dir, 'etcd.pid'),
  });
  const store = await openStore(`etcd:unix://${socket}`);
  try {
    await waitFor('lab etcd', () => store.ping(500), 20_000, 100, () => (isAlive(pid) ? undefined : `etcd exited; see ${join(dir, 'etcd.log')}`));
  } finally {
    await store.close();
  }
  return { clientUrl, socket, pid };
}

export async function labEtcdRunning(dir: string): Promise<boolean> {
  const pid = await readPid(join(dir, 'etcd.pid'));
  return pid !== undefined && isAlive(pid);
}

export async function stopLabEtcd(dir: string): Promise<void> {
  await stopPidFile(join(dir, 'etcd.pid'), 5000);
}

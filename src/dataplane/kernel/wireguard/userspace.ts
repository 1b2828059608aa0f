// wireguard-go as a process of its own: started detached (its own session, its own log), so an
// agent that exits or is killed leaves the tunnel running; a restarted agent finds it again by
// its pid file and re-attaches through its UAPI socket.
//
// wireguard-go always puts its socket at /var/run/wireguard/<ifname>.sock (a constant in its
// ipc package, changeable only at link time), a path every network namespace on a host shares:
// two lab nodes with the same ifname would take over each other's socket. So each instance gets
// a mount namespace of its own (`unshare --mount`) in which a per-node directory
// (<runDir>/wireguard) is bind-mounted over /var/run/wireguard. The socket then lives, for
// everyone else, in that per-node directory.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TwillError, describeError } from '../../../util/errors.js';
import { UapiDevice, uapiExchange } from './uapi-client.js';
import { UAPI_GET } from './uapi.js';

/** Where the pinned build of scripts/externals/build.sh puts it. */
const EXTERNALS = process.env['TWILL_EXTERNALS'] ?? '/var/cache/twill/externals';

/** wireguard-go's own log level (its LOG_LEVEL): error unless TWILL_WIREGUARD_LOG_LEVEL says verbose or silent, to debug handshakes. */
export function wireguardLogLevel(): 'error' | 'verbose' | 'silent' {
  const v = process.env['TWILL_WIREGUARD_LOG_LEVEL'];
  return v === 'verbose' || v === 'silent' ? v : 'error';
}

export interface UserspacePaths {
  dir: string;
  socket: string;
  pidFile: string;
  logFile: string;
}

export function userspacePaths(runDir: string, ifname: string): UserspacePaths {
  const dir = join(runDir, 'wireguard');
  return { dir, socket: join(dir, `${ifname}.sock`), pidFile: join(dir, `${ifname}.pid`), logFile: join(dir, `${ifname}.log`) };
}

/**
 * The wireguard-go binary: $TWILL_WIREGUARD_GO, else the pinned build in the externals cache,
 * else `wireguard-go` on PATH. Undefined when none exists.
 */
export function findWireguardGo(): string | undefined {
  const env = process.env['TWILL_WIREGUARD_GO'];
  if (env) return existsSync(env) ? env : undefined;
  try {
    const builds = readdirSync(EXTERNALS).filter((d) => d.startsWith('wireguard-go-')).sort().reverse();
    for (const d of builds) if (existsSync(join(EXTERNALS, d, 'wireguard-go'))) return join(EXTERNALS, d, 'wireguard-go');
  } catch {
    // why: no cache
  }
  for (const p of (process.env['PATH'] ?? '').split(':')) if (p && existsSync(join(p, 'wireguard-go'))) return join(p, 'wireguard-go');
  return undefined;
}

/** Alive and not a zombie: an orphaned wireguard-go may wait for a reaper that never comes. */
function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    // why: read-only liveness probe: no /proc entry means the process is gone
    return false;
  }
}

/** The pid of this node's running wireguard-go for `ifname`, if there is one. */
export async function runningPid(paths: UserspacePaths): Promise<number | undefined> {
  // why: read-only: no pid file means no wireguard-go of ours runs
  const pid = Number((await readFile(paths.pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  // A recycled pid must not pass for ours.
  return readProcCmdline(pid).includes('wireguard-go') ? pid : undefined;
}

function readProcCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // why: read-only: the process is gone, so it is not ours
    return '';
  }
}

export interface StartResult {
  device: UapiDevice;
  pid: number;
  /** False when a running instance was found and re-attached to. */
  started: boolean;
}

/** Re-attaches to the node's wireguard-go, or starts it; resolves once its UAPI socket answers. */
export async function ensureUserspace(o: { runDir: string; ifname: string; binary: string }): Promise<StartResult> {
  const paths = userspacePaths(o.runDir, o.ifname);
  const device = new UapiDevice(paths.socket);
  const pid = await runningPid(paths);
  if (pid !== undefined) {
    await waitAnswers(paths, pid);
    return { device, pid, started: false };
  }
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await rm(paths.socket, { force: true });
  const fd = openSync(paths.logFile, 'a');
  let child;
  try {
    const script = 'mkdir -p /var/run/wireguard && mount --bind "$1" /var/run/wireguard && exec "$2" -f "$3"';
    child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'twill-wireguard', paths.dir, o.binary, o.ifname], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LOG_LEVEL: wireguardLogLevel(), WG_PROCESS_FOREGROUND: '1' },
    });
  } finally {
    closeSync(fd);
  }
  const started = child.pid;
  if (started === undefined) throw new TwillError('IO', `cannot start ${o.binary}`);
  child.unref();
  await writeFile(paths.pidFile, `${started}\n`);
  await waitAnswers(paths, started);
  return { device, pid: started, started: true };
}

async function waitAnswers(paths: UserspacePaths, pid: number, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    if (!isAlive(pid)) break;
    try {
      await uapiExchange(paths.socket, UAPI_GET, 1000);
      return;
    } catch (e) {
      last = e;
    }
    await sleep(20);
  }
  // why: only decorates the error thrown just below
  const tail = (await readFile(paths.logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
  throw new TwillError('KERNEL', `wireguard-go (pid ${pid}) ${isAlive(pid) ? `does not answer on ${paths.socket}` : 'exited'}${last ? `: ${describeError(last)}` : ''}${tail ? `\n--- ${paths.logFile} ---\n${tail}` : ''}`);
}

/** Stops the node's wireguard-go (encryption switched off, lab torn down); its TUN goes with it. */
export async function stopUserspace(runDir: string, ifname: string): Promise<boolean> {
  const paths = userspacePaths(runDir, ifname);
  const pid = await runningPid(paths);
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 200 && isAlive(pid); i++) await sleep(10);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  await rm(paths.pidFile, { force: true });
  await rm(paths.socket, { force: true });
  return pid !== undefined;
}

// A private etcd for tests and the lab: one member, loopback or unix-socket clients only, its data,
// log and socket inside one directory. Stop/start keeps the data dir (the resilience tests take
// etcd away for a while and bring it back); pause/resume freezes it without closing sockets.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { TwillError, describeError } from '../../util/errors.js';

export interface EtcdServerOptions {
  /** Created if missing. Holds `data/`, `etcd.log` and the unix socket `etcd.sock:0`. */
  dataDir: string;
  /**
   * Client listeners: `unix` (socket `etcd.sock:0` in dataDir), `http` / `https` (a free loopback
   * port) or `http(s)://127.0.0.1:PORT`. Default: `['unix']`. `https` needs `tls`.
   */
  clientUrls?: string[];
  /** Server certificate for the https listeners; with `clientCertAuth`, clients must present one. */
  tls?: EtcdServerTls;
  /** Loopback peer port; a free one by default. */
  peerPort?: number;
  /** Bound on waiting for the server to report healthy. Default 20 s. */
  startTimeoutMs?: number;
  /** The etcd binary. Default `etcd` from PATH. */
  binary?: string;
  /**
   * Keep etcd running if this process dies without calling stop(). Default false: etcd gets
   * SIGKILL when its parent dies (via setpriv --pdeathsig), so a crashed test leaks no server.
   */
  outliveParent?: boolean;
}

export interface EtcdServerTls {
  certFile: string;
  keyFile: string;
  /** CA that client certificates must chain to (etcd's --trusted-ca-file). */
  trustedCaFile?: string;
  /** etcd's --client-cert-auth: refuse https clients without a certificate from trustedCaFile. */
  clientCertAuth?: boolean;
}

export interface EtcdServer {
  readonly dataDir: string;
  /** Client hosts for the etcd store: `http://127.0.0.1:PORT`, `unix:///abs/dir/etcd.sock:0`. */
  readonly endpoints: string[];
  /** Process id of the running etcd (undefined while stopped). */
  readonly pid: number | undefined;
  readonly logFile: string;
  /** SIGTERM to the process group, SIGKILL after a bound; the data dir stays. */
  stop(): Promise<void>;
  /** Starts again on the same ports and data dir after stop(). */
  start(): Promise<void>;
  /** SIGSTOP: etcd keeps its sockets open but answers nothing (a hung server). */
  pause(): void;
  resume(): void;
}

const SOCKET_NAME = 'etcd.sock:0';
const SETPRIV = '/usr/bin/setpriv';
const MEMBER = 'twill-etcd';

/** Starts etcd and waits until it reports healthy. */
export async function startEtcd(opts: EtcdServerOptions): Promise<EtcdServer> {
  const dir = resolve(opts.dataDir);
  const peerPort = opts.peerPort ?? (await freePort());
  const listen: string[] = [];
  const endpoints: string[] = [];
  for (const u of opts.clientUrls ?? ['unix']) {
    if (u === 'unix') {
      if (Buffer.byteLength(join(dir, SOCKET_NAME)) > 107) {
        throw new TwillError('CONFIG_INVALID', `etcd socket path ${join(dir, SOCKET_NAME)} is longer than a unix socket allows (107 bytes); use a shorter dataDir`);
      }
      // etcd resolves a unix listener's name against its cwd (dataDir); clients need the full path.
      listen.push(`unix://${SOCKET_NAME}`);
      endpoints.push(`unix://${join(dir, SOCKET_NAME)}`);
    } else {
      const url = u === 'http' || u === 'https' ? `${u}://127.0.0.1:${await freePort()}` : checkHttpUrl(u);
      if (url.startsWith('https:') && !opts.tls) throw new TwillError('CONFIG_INVALID', `etcd client URL ${url} needs tls (a server certificate and key)`);
      listen.push(url);
      endpoints.push(url);
    }
  }
  await mkdir(dir, { recursive: true });
  const extra: string[] = [];
  // Health is probed over a plain loopback metrics listener, so probing needs no client certificate.
  let healthUrl = endpoints[0];
  if (opts.tls) {
    const t = opts.tls;
    healthUrl = `http://127.0.0.1:${await freePort()}`;
    extra.push(`--cert-file=${t.certFile}`, `--key-file=${t.keyFile}`, `--listen-metrics-urls=${healthUrl}`);
    if (t.trustedCaFile) extra.push(`--trusted-ca-file=${t.trustedCaFile}`);
    if (t.clientCertAuth) extra.push('--client-cert-auth');
  }
  let argv = [opts.binary ?? 'etcd', ...etcdArgs(dir, listen, peerPort), ...extra];
  if (!opts.outliveParent && existsSync(SETPRIV)) argv = [SETPRIV, '--pdeathsig', 'KILL', '--', ...argv];
  const server = new ManagedEtcd(dir, argv, endpoints, healthUrl, opts.startTimeoutMs ?? 20_000);
  await server.start();
  return server;
}

function checkHttpUrl(u: string): string {
  const m = /^https?:\/\/127\.0\.0\.1:(\d+)$/.exec(u);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) {
    throw new TwillError('CONFIG_INVALID', `etcd client URL ${JSON.stringify(u)} is not allowed: use 'unix', 'http', 'https' or http(s)://127.0.0.1:PORT (loopback only)`);
  }
  return u;
}

function etcdArgs(dir: string, clientUrls: string[], peerPort: number): string[] {
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    `--name=${MEMBER}`,
    `--data-dir=${join(dir, 'data')}`,
    `--listen-client-urls=${clientUrls.join(',')}`,
    `--advertise-client-urls=${clientUrls.join(',')}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${MEMBER}=${peer}`,
    '--initial-cluster-state=new',
    // A single member on loopback: short raft timers make start-up and lease expiry prompt
    // (minimum lease TTL is 1.5 election timeouts, so 2 s TTLs work).
    '--heartbeat-interval=50',
    '--election-timeout=500',
    '--grpc-keepalive-min-time=1s',
    '--logger=zap',
    '--log-outputs=stderr',
    '--log-level=warn',
  ];
}

class ManagedEtcd implements EtcdServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly logFile: string;

  constructor(
    readonly dataDir: string,
    private readonly argv: string[],
    readonly endpoints: string[],
    private readonly healthUrl: string | undefined,
    private readonly startTimeoutMs: number,
  ) {
    this.logFile = join(dataDir, 'etcd.log');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const log = await open(this.logFile, 'a');
    let child: ChildProcess;
    try {
      // detached: its own process group, so stop() reaches anything it forks.
      child = spawn(this.argv[0]!, this.argv.slice(1), { cwd: this.dataDir, detached: true, stdio: ['ignore', log.fd, log.fd], env: cleanEnv() });
    } finally {
      await log.close();
    }
    this.child = child;
    let exitInfo = '';
    this.exited = new Promise<void>((res) => {
      child.once('exit', (code, signal) => {
        exitInfo = signal ? `killed by ${signal}` : `exit ${code}`;
        if (this.child === child) this.child = undefined;
        res();
      });
      child.once('error', (e) => {
        exitInfo = describeError(e);
        if (this.child === child) this.child = undefined;
        res();
      });
    });
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      if (this.child !== child) {
        throw new TwillError('DATASTORE', `etcd exited during start-up (${exitInfo}); see ${this.logFile}`, { details: await logTail(this.logFile) });
      }
      if (await this.healthy()) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new TwillError('TIMEOUT', `etcd did not become healthy within ${this.startTimeoutMs} ms; see ${this.logFile}`, { details: await logTail(this.logFile) });
      }
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    signalGroup(child.pid, 'SIGTERM');
    signalGroup(child.pid, 'SIGCONT'); // a paused etcd must run to act on SIGTERM
    const killed = await Promise.race([this.exited.then(() => true), sleep(5_000).then(() => false)]);
    if (!killed) {
      signalGroup(child.pid, 'SIGKILL');
      await this.exited;
    }
  }

  pause(): void {
    if (this.child?.pid) signalGroup(this.child.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.child?.pid) signalGroup(this.child.pid, 'SIGCONT');
  }

  /** etcd's /health answers true once the member has a leader and serves requests. */
  private healthy(): Promise<boolean> {
    const ep = this.healthUrl;
    if (!ep) return Promise.resolve(false);
    const target = ep.startsWith('unix://') ? { socketPath: ep.slice('unix://'.length) } : { host: '127.0.0.1', port: Number(new URL(ep).port) };
    return new Promise((res) => {
      const req = request({ ...target, path: '/health', timeout: 1_000 }, (resp) => {
        let body = '';
        resp.setEncoding('utf8');
        resp.on('data', (c: string) => (body += c));
        resp.on('end', () => res(resp.statusCode === 200 && /"health":\s*"true"/.test(body)));
        resp.on('error', () => res(false));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => res(false));
      req.end();
    });
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // why: already gone
  }
}

/** etcd reads ETCD_* variables as flags; a private server must not inherit the caller's. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
}

/** A loopback port that was free a moment ago (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

async function logTail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-15).join('\n');
  } catch {
    // why: read-only: a log tail for an error message
    return '';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// Test harness for the shim: a throwaway HTTP server on a unix socket stands in for the agent's
// transport, and tools (nsenter, ip) are injected, so these tests never touch the kernel.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CniRequest, CniTombstone } from '../api.js';
import { runShim, type ShimDeps } from '../shim.js';

export const NETNS = '/run/netns/pod-a';
const ATTACH = { CNI_CONTAINERID: 'ctr1', CNI_IFNAME: 'eth0' };
export const ENV = {
  ADD: { CNI_COMMAND: 'ADD', ...ATTACH, CNI_NETNS: NETNS },
  CHECK: { CNI_COMMAND: 'CHECK', ...ATTACH, CNI_NETNS: NETNS },
  DEL: { CNI_COMMAND: 'DEL', ...ATTACH, CNI_NETNS: NETNS },
  GC: { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' },
  STATUS: { CNI_COMMAND: 'STATUS' },
} as const;
export type Cmd = keyof typeof ENV;
const PREV = { cniVersion: '1.1.0', ips: [{ address: '10.244.1.5/32' }] };

/** Fresh socket paths in one temp dir; call cleanup() from after(). */
export class SocketDir {
  private readonly dir = mkdtempSync(join(tmpdir(), 'twill-shim-'));
  private n = 0;

  next(): string {
    return join(this.dir, `a${this.n++}`, 'agent.sock');
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function config(socket: string, cmd: Cmd, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.1.0', name: 'twill', type: 'twill-cni', agentSocket: socket, ...(cmd === 'CHECK' ? { prevResult: PREV } : {}), ...extra };
}

export interface Seen {
  method?: string;
  url?: string;
  contentType?: string;
  body?: CniRequest;
}

/** An HTTP server on a unix socket; `answer` decides what it does with each request. */
export async function fakeAgent(socket: string, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; seen: Seen[] }> {
  mkdirSync(join(socket, '..'), { recursive: true });
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, contentType: req.headers['content-type'], body: JSON.parse(body) as CniRequest });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return { server, seen };
}

export function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export function json(res: ServerResponse, v: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
  execs: string[][];
}

/** Runs the shim in-process; by default tools succeed and are recorded in `execs`. */
export async function shim(cmd: Cmd, conf: Record<string, unknown>, deps: Partial<ShimDeps> = {}, netnsExists = true): Promise<Run> {
  const r: Run = { status: -1, stdout: '', stderr: '', execs: [] };
  r.status = await runShim(
    {
      env: ENV[cmd],
      stdin: Buffer.from(JSON.stringify(conf)),
      stdout: { write: (s) => void (r.stdout += s) },
      stderr: { write: (s) => void (r.stderr += s) },
      netnsExists: (p) => netnsExists && p === NETNS,
    },
    {
      exec: (c, args) => {
        r.execs.push([c, ...args]);
        return Promise.resolve();
      },
      now: () => new Date('2025-01-02T03:04:05.000Z'),
      ...deps,
    },
  );
  return r;
}

export interface ErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** The CNI error a failed run printed (asserting it failed). */
export function error(r: Run): ErrorJson {
  assert.equal(r.status, 1, `exit status (stdout ${r.stdout})`);
  return JSON.parse(r.stdout) as ErrorJson;
}

export function tombstone(socket: string): CniTombstone {
  return JSON.parse(readFileSync(join(socket, '..', 'tombstones', 'ctr1-eth0.json'), 'utf8')) as CniTombstone;
}

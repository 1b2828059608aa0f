// The shim against a throwaway HTTP server on a unix socket standing in for the agent's
// transport. Tools (nsenter, ip) are injected: unit tests never touch the kernel.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostVethName } from '../dataplane/kernel/names.js';
import type { CniRequest, CniTombstone } from './api.js';
import { AGENT_TIMEOUT_MS, runShim, type ShimDeps } from './shim.js';

const NETNS = '/run/netns/pod-a';
const ATTACH = { CNI_CONTAINERID: 'ctr1', CNI_IFNAME: 'eth0' };
const ENV = {
  ADD: { CNI_COMMAND: 'ADD', ...ATTACH, CNI_NETNS: NETNS },
  CHECK: { CNI_COMMAND: 'CHECK', ...ATTACH, CNI_NETNS: NETNS },
  DEL: { CNI_COMMAND: 'DEL', ...ATTACH, CNI_NETNS: NETNS },
  GC: { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' },
  STATUS: { CNI_COMMAND: 'STATUS' },
} as const;
type Cmd = keyof typeof ENV;
const PREV = { cniVersion: '1.1.0', ips: [{ address: '10.244.1.5/32' }] };

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'twill-shim-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function socketPath(): string {
  return join(dir, `a${n++}`, 'agent.sock');
}

function config(socket: string, cmd: Cmd, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.1.0', name: 'twill', type: 'twill-cni', agentSocket: socket, ...(cmd === 'CHECK' ? { prevResult: PREV } : {}), ...extra };
}

interface Seen {
  method?: string;
  url?: string;
  contentType?: string;
  body?: CniRequest;
}

/** An HTTP server on a unix socket; `answer` decides what it does with each request. */
async function fakeAgent(socket: string, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; seen: Seen[] }> {
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

function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function json(res: ServerResponse, v: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
  execs: string[][];
}

async function shim(cmd: Cmd, conf: Record<string, unknown>, deps: Partial<ShimDeps> = {}, netnsExists = true): Promise<Run> {
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

function error(r: Run): { cniVersion: string; code: number; msg: string; details?: string } {
  assert.equal(r.status, 1, `exit status (stdout ${r.stdout})`);
  return JSON.parse(r.stdout) as { cniVersion: string; code: number; msg: string; details?: string };
}

describe('shim forwarding to a live agent', () => {
  it('POSTs the request to /v1/cni and prints the result unchanged', async () => {
    const socket = socketPath();
    const result = { cniVersion: '0.4.0', interfaces: [{ name: 'eth0', sandbox: NETNS }], ips: [{ version: '4', address: '10.244.1.5/32', interface: 0 }] };
    const { server, seen } = await fakeAgent(socket, (_req, res) => json(res, { ok: true, result }));
    try {
      const conf = config(socket, 'ADD', { cniVersion: '0.4.0', mtu: 1400 });
      const r = await shim('ADD', conf);
      assert.equal(r.status, 0, r.stdout);
      assert.deepEqual(JSON.parse(r.stdout), result);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.method, 'POST');
      assert.equal(seen[0]!.url, '/v1/cni');
      assert.equal(seen[0]!.contentType, 'application/json');
      assert.deepEqual(seen[0]!.body, { command: 'ADD', containerId: 'ctr1', netns: NETNS, ifname: 'eth0', config: conf });
    } finally {
      await stop(server);
    }
  });

  it('prints nothing when the agent returns no result (CHECK, DEL, GC, STATUS)', async () => {
    const socket = socketPath();
    const { server, seen } = await fakeAgent(socket, (_req, res) => json(res, { ok: true }));
    try {
      for (const cmd of ['CHECK', 'DEL', 'GC', 'STATUS'] as const) {
        const r = await shim(cmd, config(socket, cmd));
        assert.equal(r.status, 0, `${cmd}: ${r.stdout}`);
        assert.equal(r.stdout, '', cmd);
        assert.deepEqual(r.execs, [], `${cmd} must not fall back to local cleanup`);
      }
      assert.deepEqual(seen.map((s) => s.body!.command), ['CHECK', 'DEL', 'GC', 'STATUS']);
      assert.deepEqual(seen[2]!.body, { command: 'GC', path: '/opt/cni/bin', config: config(socket, 'GC') });
    } finally {
      await stop(server);
    }
  });

  it('maps agent errors to CNI codes, keeping message and details', async () => {
    const socket = socketPath();
    const errors = [
      ['ADD', 'IPAM_EXHAUSTED', 103],
      ['ADD', 'TRY_AGAIN', 11],
      ['ADD', 'EXISTS', 106],
      ['CHECK', 'CHECK_FAILED', 104],
      ['STATUS', 'NOT_AVAILABLE', 50],
      ['STATUS', 'LIMITED_CONNECTIVITY', 51],
      ['STATUS', 'DATASTORE', 50],
    ] as const;
    let i = 0;
    const { server } = await fakeAgent(socket, (_req, res) => {
      const [, code] = errors[i++]!;
      json(res, { ok: false, error: { code, message: `agent says ${code}`, details: 'more' } });
    });
    try {
      for (const [cmd, code, num] of errors) {
        const out = error(await shim(cmd, config(socket, cmd)));
        assert.deepEqual(out, { cniVersion: '1.1.0', code: num, msg: `agent says ${code}`, details: 'more' }, code);
      }
    } finally {
      await stop(server);
    }
  });

  it('reports an answer that is not a twill agent as internal (100), for DEL too', async () => {
    const socket = socketPath();
    const answers: ((res: ServerResponse) => void)[] = [
      (res) => json(res, { ok: true }, 404),
      (res) => res.writeHead(200).end('<html>'),
      (res) => json(res, { ok: false, error: { code: 'NO_SUCH_CODE', message: 'x' } }),
      (res) => json(res, { result: {} }),
    ];
    let i = 0;
    const { server } = await fakeAgent(socket, (_req, res) => answers[i++]!(res));
    try {
      for (const cmd of ['ADD', 'DEL', 'GC', 'STATUS'] as const) {
        const r = await shim(cmd, config(socket, cmd));
        const out = error(r);
        assert.equal(out.code, 100, `${cmd}: ${out.msg}`);
        assert.match(out.msg, new RegExp(`agent at ${socket}`));
        assert.deepEqual(r.execs, []);
      }
    } finally {
      await stop(server);
    }
  });
});

function tombstone(socket: string): CniTombstone {
  return JSON.parse(readFileSync(join(socket, '..', 'tombstones', 'ctr1-eth0.json'), 'utf8')) as CniTombstone;
}

describe('shim with the agent down', () => {
  it('ADD, CHECK and GC fail with 11 naming the socket; STATUS with 50', async () => {
    const socket = socketPath();
    for (const [cmd, code] of [['ADD', 11], ['CHECK', 11], ['GC', 11], ['STATUS', 50]] as const) {
      const out = error(await shim(cmd, config(socket, cmd)));
      assert.equal(out.code, code, cmd);
      assert.ok(out.msg.includes(`cannot reach the twill agent at ${socket}`), out.msg);
      assert.ok(out.msg.includes('twill agent` runs'), out.msg);
    }
  });

  it('DEL succeeds, removes both veth ends and leaves a tombstone; twice', async () => {
    const socket = socketPath();
    const veth = hostVethName('ctr1', 'eth0');
    for (let round = 0; round < 2; round++) {
      const r = await shim('DEL', config(socket, 'DEL'));
      assert.equal(r.status, 0, r.stdout);
      assert.equal(r.stdout, '');
      assert.deepEqual(r.execs, [
        ['nsenter', `--net=${NETNS}`, '--', 'ip', 'link', 'del', 'eth0'],
        ['ip', 'link', 'del', veth],
      ]);
      assert.match(r.stderr, /cannot reach the twill agent.*tombstones\/ctr1-eth0\.json/);
      assert.deepEqual(tombstone(socket), { containerId: 'ctr1', ifname: 'eth0', netns: NETNS, network: 'twill', time: '2025-01-02T03:04:05.000Z' });
    }
  });

  it('DEL skips the pod side when the netns is gone or unset, and ignores "Cannot find device"', async () => {
    const socket = socketPath();
    const execs: string[][] = [];
    const gone: Partial<ShimDeps> = {
      exec: (c, args) => {
        execs.push([c, ...args]);
        return Promise.reject(new Error(`${c}: Cannot find device "${args.at(-1)}"`));
      },
    };
    const r = await shim('DEL', config(socket, 'DEL'), gone, false);
    assert.equal(r.status, 0, r.stdout);
    assert.deepEqual(execs, [['ip', 'link', 'del', hostVethName('ctr1', 'eth0')]]);
    assert.doesNotMatch(r.stderr, /could not run/);
    assert.equal(tombstone(socket).netns, NETNS);
  });

  it('DEL still succeeds when a tool fails for another reason, and says so on stderr', async () => {
    const socket = socketPath();
    const r = await shim('DEL', config(socket, 'DEL'), { exec: () => Promise.reject(new Error('ip: RTNETLINK answers: Operation not permitted')) });
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stderr, /could not run .*Operation not permitted/);
    assert.ok(tombstone(socket));
  });

  it('DEL fails with 5 when it cannot write the tombstone, so the runtime retries', async () => {
    const socket = socketPath();
    mkdirSync(join(socket, '..'), { recursive: true });
    writeFileSync(join(socket, '..', 'tombstones'), 'a file where the directory should be');
    const out = error(await shim('DEL', config(socket, 'DEL')));
    assert.equal(out.code, 5);
    assert.match(out.msg, /could not record this DEL/);
  });

  it('treats a socket path nobody listens on (ECONNREFUSED) as down', async () => {
    const socket = socketPath();
    mkdirSync(join(socket, '..'), { recursive: true });
    writeFileSync(socket, '');
    const out = error(await shim('ADD', config(socket, 'ADD')));
    assert.equal(out.code, 11);
    assert.match(out.msg, /ECONNREFUSED/);
    const del = await shim('DEL', config(socket, 'DEL'));
    assert.equal(del.status, 0);
    assert.ok(existsSync(join(socket, '..', 'tombstones', 'ctr1-eth0.json')));
  });

  it('treats a connection reset as down', async () => {
    const socket = socketPath();
    const { server } = await fakeAgent(socket, (req) => req.socket.destroy());
    try {
      const out = error(await shim('ADD', config(socket, 'ADD')));
      assert.equal(out.code, 11, out.msg);
      const del = await shim('DEL', config(socket, 'DEL'));
      assert.equal(del.status, 0, del.stdout);
      assert.ok(tombstone(socket));
    } finally {
      await stop(server);
    }
  });

  it('gives up after the timeout: 11 for ADD, 50 for STATUS, local DEL', async () => {
    const socket = socketPath();
    const { server } = await fakeAgent(socket, () => undefined); // never answers
    const fast: Partial<ShimDeps> = { timeoutsMs: { ADD: 150, DEL: 150, CHECK: 150, GC: 150, STATUS: 150 } };
    try {
      const started = Date.now();
      const add = error(await shim('ADD', config(socket, 'ADD'), fast));
      assert.equal(add.code, 11);
      assert.match(add.msg, /no answer within 0\.15 s/);
      assert.ok(Date.now() - started < 5000, 'the timeout bounds the wait');
      assert.equal(error(await shim('STATUS', config(socket, 'STATUS'), fast)).code, 50);
      const del = await shim('DEL', config(socket, 'DEL'), fast);
      assert.equal(del.status, 0);
      assert.ok(tombstone(socket));
    } finally {
      await stop(server);
    }
  });

  it('uses the brief\'s timeouts by default: 60 s, and 5 s for STATUS', () => {
    assert.deepEqual(AGENT_TIMEOUT_MS, { ADD: 60_000, DEL: 60_000, CHECK: 60_000, GC: 60_000, STATUS: 5_000 });
  });
});

// The shim talking to a live (fake) agent: request body, result pass-through, error mapping.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, describe, it } from 'node:test';
import { config, error, fakeAgent, json, NETNS, shim, SocketDir, stop } from './testdata/shim-harness.js';

const sockets = new SocketDir();
after(() => sockets.cleanup());
const socketPath = (): string => sockets.next();

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

  it('refuses a result in another version than the runtime asked for', async () => {
    const socket = socketPath();
    const { server } = await fakeAgent(socket, (_req, res) => json(res, { ok: true, result: { cniVersion: '1.1.0', ips: [] } }));
    try {
      const out = error(await shim('ADD', config(socket, 'ADD', { cniVersion: '0.4.0' })));
      assert.equal(out.code, 100);
      assert.match(out.msg, /result for cniVersion "1\.1\.0", but the runtime asked for "0\.4\.0"/);
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


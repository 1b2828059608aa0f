// The shim with no agent: 11 (50 for STATUS) for everything but DEL, which cleans up locally and
// leaves a tombstone.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { hostVethName } from '../dataplane/kernel/names.js';
import { AGENT_TIMEOUT_MS, runShim, type ShimDeps } from './shim.js';
import { config, ENV, error, fakeAgent, NETNS, shim, SocketDir, stop, tombstone } from './testdata/shim-harness.js';

const sockets = new SocketDir();
after(() => sockets.cleanup());
const socketPath = (): string => sockets.next();

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
    assert.equal(veth, `twl${createHash('sha256').update('ctr1/eth0').digest('hex').slice(0, 11)}`, 'names.ts hashes lazily but the same');
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

  it('DEL never enters a netns given as a relative path', async () => {
    const socket = socketPath();
    const tools: string[] = [];
    const r = await runShim(
      {
        env: { ...ENV.DEL, CNI_NETNS: 'run/netns/pod-a' },
        stdin: Buffer.from(JSON.stringify(config(socket, 'DEL'))),
        stdout: { write: () => undefined },
        stderr: { write: () => undefined },
        netnsExists: () => true,
      },
      {
        exec: (c) => {
          tools.push(c);
          return Promise.resolve();
        },
      },
    );
    assert.equal(r, 0);
    assert.deepEqual(tools, ['ip'], 'only the host-side veth is removed');
    assert.equal(tombstone(socket).netns, 'run/netns/pod-a');
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

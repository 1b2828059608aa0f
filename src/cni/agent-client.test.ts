import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHttpResponse } from './agent-client.js';

const b = (s: string) => Buffer.from(s, 'latin1');

test('Content-Length framing: incomplete until every byte is in', () => {
  const full = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}';
  assert.equal(parseHttpResponse(b(full.slice(0, 20))), undefined);
  assert.equal(parseHttpResponse(b(full.slice(0, full.length - 1))), undefined);
  assert.deepEqual(parseHttpResponse(b(full)), { status: 200, body: '{"ok":true}' });
});

test('chunked framing', () => {
  const msg = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ok"\r\n6\r\n:true}\r\n0\r\n\r\n';
  assert.deepEqual(parseHttpResponse(b(msg)), { status: 200, body: '{"ok":true}' });
  assert.equal(parseHttpResponse(b(msg.slice(0, msg.length - 5))), undefined);
});

test('close-delimited framing, status codes, and garbage', () => {
  const msg = 'HTTP/1.0 404 Not Found\r\n\r\nnope';
  assert.equal(parseHttpResponse(b(msg)), undefined);
  assert.deepEqual(parseHttpResponse(b(msg), true), { status: 404, body: 'nope' });
  assert.throws(() => parseHttpResponse(b('SSH-2.0-OpenSSH\r\n\r\n')), /not an HTTP response/);
});

// Both transports against a real unix socket server (no root needed).
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeBindings, postUnix, type Transport } from './agent-client.js';

async function withServer(onConn: (s: Socket, request: string) => void, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'twill-client-'));
  const path = join(dir, 'agent.sock');
  const server: Server = createServer((s) => {
    let buf = '';
    s.on('data', (c) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length >= end + 4 + len) onConn(s, buf);
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  try {
    await fn(path);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const opts = (socketPath: string, extra: Partial<{ timeoutMs: number; maxBytes: number; body: string }> = {}) => ({
  socketPath, path: '/v1/cni', body: extra.body ?? '{"command":"ADD"}', timeoutMs: extra.timeoutMs ?? 5_000, maxBytes: extra.maxBytes ?? 1 << 20,
});

test('this Node offers the pipe fast path (else the shim pays for node:net on every call)', () => {
  assert.notEqual(pipeBindings(), null);
});

for (const transport of ['pipe', 'net'] as Transport[]) {
  test(`${transport}: sends the request and reads a reply written in pieces`, async () => {
    let seen = '';
    await withServer(
      (s, req) => {
        seen = req;
        const body = JSON.stringify({ ok: true, result: { x: 'é'.repeat(50_000) } });
        const msg = `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
        s.write(msg.slice(0, 30));
        setTimeout(() => s.end(msg.slice(30)), 20);
      },
      async (path) => {
        const body = JSON.stringify({ command: 'ADD', note: 'ü'.repeat(100_000) });
        const r = await postUnix(opts(path, { body }), transport);
        assert.equal(r.status, 200);
        assert.equal((JSON.parse(r.body) as { result: { x: string } }).result.x.length, 50_000);
        assert.match(seen, /^POST \/v1\/cni HTTP\/1\.1\r\n/);
        assert.ok(seen.includes(`Content-Length: ${Buffer.byteLength(body)}`));
        assert.ok(Buffer.from(seen, 'latin1').toString('utf8').endsWith(body), 'the whole body arrives, UTF-8 intact');
      },
    );
  });

  test(`${transport}: a server that closes early, a timeout, an oversize answer`, async () => {
    await withServer(
      (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ok"'),
      async (path) => {
        await assert.rejects(postUnix(opts(path), transport), (e: Error & { code?: string }) => e.code === 'ECONNRESET' && /closed before/.test(e.message));
      },
    );
    await withServer(
      () => undefined,
      async (path) => {
        await assert.rejects(postUnix(opts(path, { timeoutMs: 100 }), transport), (e: Error & { code?: string }) => e.code === 'ETIMEDOUT');
      },
    );
    await withServer(
      (s) => s.end(`HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(5000)}`),
      async (path) => {
        await assert.rejects(postUnix(opts(path, { maxBytes: 1000 }), transport), /larger than 1000 bytes/);
      },
    );
  });

  test(`${transport}: no socket file, and a file that nobody listens on, keep their errno code`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twill-client-'));
    try {
      await assert.rejects(postUnix(opts(join(dir, 'missing.sock')), transport), (e: Error & { code?: string }) => e.code === 'ENOENT');
      const stale = join(dir, 'stale.sock');
      writeFileSync(stale, '');
      await assert.rejects(postUnix(opts(stale), transport), (e: Error & { code?: string }) => e.code === 'ECONNREFUSED');
      const dead = join(dir, 'dead.sock');
      const srv = createServer();
      await new Promise<void>((r) => srv.listen(dead, r));
      await new Promise<void>((r) => srv.close(() => r()));
      writeFileSync(dead, '');
      await assert.rejects(postUnix(opts(dead), transport), (e: Error & { code?: string }) => typeof e.code === 'string' && e.code.startsWith('E'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

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

import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { isTwillError } from '../../util/errors.js';
import { apiError, splitLines } from './client.js';

describe('kubernetes client', () => {
  it('splits a streamed body into lines across chunk borders', async () => {
    const body = new PassThrough();
    const lines: string[] = [];
    const done = splitLines(body as unknown as IncomingMessage, (l) => lines.push(l));
    for (const chunk of ['{"a":', '1}\n{"b"', ':2}\n\n{"c":3}', '\n']) body.write(chunk);
    body.end();
    await done;
    assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('a line over the bound breaks the stream instead of growing the buffer', async () => {
    const body = new PassThrough();
    let err: unknown;
    body.on('error', (e) => (err = e));
    const done = splitLines(body as unknown as IncomingMessage, () => undefined, 64);
    for (let i = 0; i < 10; i++) body.write('x'.repeat(20));
    await done.catch((e: unknown) => (err = e));
    assert.ok(body.destroyed);
    assert.match(String(err), /larger than 64 bytes/);
  });

  it('maps apiserver answers to codes and messages that say what to do', () => {
    const s = 'https://192.0.2.1:6443';
    assert.ok(isTwillError(apiError(409, { reason: 'AlreadyExists', message: 'x exists' }, 'creating', s), 'EXISTS'));
    assert.ok(isTwillError(apiError(409, { reason: 'Conflict', message: 'changed' }, 'updating', s), 'CONFLICT'));
    assert.ok(isTwillError(apiError(404, { reason: 'NotFound', details: { name: 'n1' } }, 'reading twillnodes.twill.dev n1', s), 'NOT_FOUND'));
    const noCrd = apiError(404, undefined, 'listing twillnodes.twill.dev', s, Buffer.from('404 page not found\n'));
    assert.ok(isTwillError(noCrd, 'DATASTORE') && /apply deploy\/twill\.yaml/.test(noCrd.message));
    const forbidden = apiError(403, { reason: 'Forbidden', message: 'User "system:serviceaccount:twill-system:twill-agent" cannot patch resource "nodes/status"' }, 'patching nodes/n1/status', s);
    assert.match(forbidden.message, /cannot patch resource "nodes\/status".*rbac\.ts/);
    assert.match(apiError(401, undefined, 'listing pods', s).message, /credentials/);
    assert.ok(isTwillError(apiError(422, { message: 'spec.backend: Unsupported value' }, 'creating', s), 'VALIDATION'));
  });
});

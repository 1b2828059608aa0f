import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { TwillError, type ErrorCode } from '../util/errors.js';
import { CNI_ERROR_CODES, cniErrorCode, toCniError } from './errors.js';

describe('CNI error codes', () => {
  it('maps the spec codes', () => {
    const spec: [ErrorCode, number][] = [
      ['VERSION_INCOMPATIBLE', 1], ['UNSUPPORTED_FIELD', 2], ['CONTAINER_UNKNOWN', 3], ['ENV_INVALID', 4],
      ['IO', 5], ['DECODE', 6], ['CONFIG_INVALID', 7], ['TRY_AGAIN', 11], ['AGENT_UNREACHABLE', 11],
      ['NOT_AVAILABLE', 50], ['LIMITED_CONNECTIVITY', 51],
    ];
    for (const [code, n] of spec) assert.equal(cniErrorCode(code, 'ADD'), n, code);
  });

  it('gives every other code its own number of 100 or more', () => {
    const spec = new Set([1, 2, 3, 4, 5, 6, 7, 11, 50, 51]);
    const own = Object.entries(CNI_ERROR_CODES).filter(([, n]) => !spec.has(n));
    for (const [code, n] of own) assert.ok(n >= 100, `${code} -> ${n}`);
    assert.equal(new Set(own.map(([, n]) => n)).size, own.length, 'plugin-specific codes must be distinct');
  });

  it('is documented: README.md lists every code with its number', () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    for (const [code, n] of Object.entries(CNI_ERROR_CODES)) {
      assert.match(readme, new RegExp(`\\|\\s*${n}\\s*\\|[^\\n]*\\b${code}\\b`), `README table row for ${code} = ${n}`);
    }
  });

  it('turns "not now" into 50 for STATUS only', () => {
    for (const code of ['AGENT_UNREACHABLE', 'TRY_AGAIN', 'DATASTORE', 'TIMEOUT', 'IPAM_EXHAUSTED'] as const) {
      assert.equal(cniErrorCode(code, 'STATUS'), 50, code);
      assert.notEqual(cniErrorCode(code, 'ADD'), 50, code);
    }
    assert.equal(cniErrorCode('LIMITED_CONNECTIVITY', 'STATUS'), 51);
    assert.equal(cniErrorCode('CONFIG_INVALID', 'STATUS'), 7);
  });
});

describe('toCniError', () => {
  it('keeps the message, the details and the version', () => {
    const e = new TwillError('IPAM_EXHAUSTED', 'no free address in 10.244.1.0/26', { details: 'node n1 holds 1 block' });
    assert.deepEqual(toCniError(e, '0.4.0', 'ADD'), { cniVersion: '0.4.0', code: 103, msg: 'no free address in 10.244.1.0/26', details: 'node n1 holds 1 block' });
  });

  it('puts the cause in details when there are none', () => {
    const e = new TwillError('IO', 'could not read stdin', { cause: new Error('EIO: i/o error') });
    assert.deepEqual(toCniError(e, '1.1.0'), { cniVersion: '1.1.0', code: 5, msg: 'could not read stdin', details: 'EIO: i/o error' });
  });

  it('reports anything else as an internal error', () => {
    const out = toCniError(new RangeError('boom'), '1.1.0', 'ADD');
    assert.equal(out.code, CNI_ERROR_CODES.INTERNAL);
    assert.match(out.msg, /boom/);
  });
});

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ShellPool } from './shell.js';
import { isTwillError } from '../../util/errors.js';

const pool = new ShellPool(2);
after(() => pool.stop());

test('runs commands, passes stdin, returns output', async () => {
  assert.equal(await pool.run(['printf', '%s-%s', 'a b', "it's"]), "a b-it's");
  assert.equal(await pool.run(['cat'], 'line one\nline two\n'), 'line one\nline two');
  assert.equal(await pool.run(['true']), '');
});

test('a failing command rejects with its exit status and output, and the shell carries on', async () => {
  await assert.rejects(pool.run(['sh', '-c', 'echo nope >&2; exit 3']), (e) => isTwillError(e, 'KERNEL') && /exit 3/.test(e.message) && /nope/.test(e.message));
  assert.equal(await pool.run(['echo', 'still here']), 'still here');
});

test('many concurrent commands each get their own answer', async () => {
  const outs = await Promise.all(Array.from({ length: 50 }, (_, i) => pool.run(['echo', `n${i}`])));
  assert.deepEqual(outs, Array.from({ length: 50 }, (_, i) => `n${i}`));
});

test('a shell that dies is replaced', async () => {
  await assert.rejects(pool.run(['sh', '-c', 'kill -9 $PPID']));
  assert.equal(await pool.run(['echo', 'again']), 'again');
});

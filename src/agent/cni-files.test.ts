import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONFLIST_NAME, installShim, removeConflist, renderConflist, writeConflist } from './cni-files.js';

async function tmp(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp('/tmp/kd-cnifiles-');
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('kd writeConflist writes once, atomically, and names the agent socket', async (t) => {
  const d = await tmp(t);
  const conf = join(d, 'net.d');
  assert.equal(await writeConflist(conf, '/run/twill/agent.sock'), true);
  const list = JSON.parse(await readFile(join(conf, CONFLIST_NAME), 'utf8')) as { name: string; plugins: { type: string; agentSocket: string }[] };
  assert.equal(list.name, 'twill');
  assert.deepEqual(list.plugins, [{ type: 'twill-cni', agentSocket: '/run/twill/agent.sock' }]);
  assert.equal(await writeConflist(conf, '/run/twill/agent.sock'), false, 'unchanged: not rewritten');
  assert.equal(await writeConflist(conf, '/run/kd/agent.sock'), true, 'changed: replaced');
  assert.deepEqual(await readdir(conf), [CONFLIST_NAME], 'no temporary file left behind');
  assert.equal(await removeConflist(conf), true);
  assert.equal(await removeConflist(conf), false);
  assert.deepEqual(await readdir(conf), []);
  assert.match(renderConflist('/x'), /"cniVersion": "1\.1\.0"/);
});

test('kd installShim copies an executable by rename and is idempotent', async (t) => {
  const d = await tmp(t);
  const src = join(d, 'twill-cni.src');
  await writeFile(src, 'kd-shim-v1');
  await chmod(src, 0o600);
  const bin = join(d, 'bin');
  assert.equal(await installShim(src, bin), true);
  const dest = join(bin, 'twill-cni');
  assert.equal((await stat(dest)).mode & 0o777, 0o755);
  const ino = (await stat(dest)).ino;
  assert.equal(await installShim(src, bin), false);
  assert.equal((await stat(dest)).ino, ino, 'same bytes: the file is left alone');
  await writeFile(src, 'kd-shim-v2');
  assert.equal(await installShim(src, bin), true);
  assert.equal(await readFile(dest, 'utf8'), 'kd-shim-v2');
  assert.notEqual((await stat(dest)).ino, ino, 'replaced by rename, not rewritten in place (a running shim keeps its inode)');
  assert.deepEqual(await readdir(bin), ['twill-cni']);
  await assert.rejects(installShim(join(d, 'missing'), bin), /cannot read the CNI shim/);
});

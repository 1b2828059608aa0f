// Every golden table loads into a real kernel: `nft -c -f` (check only) in a namespace of its own.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runInNetns } from '../dataplane/kernel/exec.js';
import { TestScope } from '../../test/support/scope.js';

const TESTDATA = join(import.meta.dirname, 'testdata');

describe('twill-services golden tables load', () => {
  const scope = new TestScope();
  let ns = '';
  before(async () => (ns = (await scope.netns('svck')).path));
  after(() => scope.cleanup());

  const files = readdirSync(TESTDATA).filter((f) => f.endsWith('.nft'));
  test('there are golden files', () => assert.ok(files.length >= 10));
  for (const f of files) {
    test(`nft -c -f ${f}`, async () => {
      await runInNetns(ns, 'nft', ['-c', '-f', join(TESTDATA, f)]);
    });
  }

  test('a broken table is refused (the check can fail)', async () => {
    const dir = await scope.tmpdir('svck-');
    const bad = join(dir, 'bad.nft');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bad, 'table inet twill-services {\n\tchain x {\n\t\tgoto nowhere\n\t}\n}\n');
    await assert.rejects(runInNetns(ns, 'nft', ['-c', '-f', bad]));
  });
});

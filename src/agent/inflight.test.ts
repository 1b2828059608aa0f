import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InflightJournal, describeInterrupted } from './inflight.js';

test('a clean stop is not a kill; a kill names what was in flight', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rf-inflight-'));
  try {
    const a = new InflightJournal(dir);
    assert.deepEqual(a.takeOver(), { unclean: false, interrupted: [] }, 'first start');
    a.begin('ADD', 'c1/eth0')(); // finished
    a.close();
    const b = new InflightJournal(dir);
    assert.equal(b.takeOver().unclean, false, 'after a clean stop');
    b.begin('DEL', 'c2/eth0'); // never ends: the agent is killed
    b.begin('claim', 'a block for n1');
    // (no close: SIGKILL)
    const prev = new InflightJournal(dir).takeOver();
    assert.equal(prev.unclean, true);
    assert.equal(prev.pid, process.pid);
    assert.deepEqual(prev.interrupted.map((i) => `${i.op} ${i.what}`).sort(), ['DEL c2/eth0', 'claim a block for n1']);
    assert.equal(describeInterrupted([]), 'no operation in flight');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a kill while nothing was in flight, and an intent cut short, are still reported', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rf-inflight-'));
  try {
    const a = new InflightJournal(dir);
    a.takeOver();
    await writeFile(join(dir, 'inflight', 'GC-abc-1.json'), '{"op":"GC","wh');
    const prev = new InflightJournal(dir).takeOver();
    assert.equal(prev.unclean, true);
    assert.equal(prev.interrupted[0]?.op, 'GC');
    assert.equal(new InflightJournal(dir).takeOver().interrupted.length, 0, 'intents are taken once');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '../util/log.js';
import { Reconciler } from './reconciler.js';

const log = new Logger('test');

test('triggers within the debounce window make one run; runs never overlap; changes are counted', async () => {
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const r = new Reconciler('t', async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    runs++;
    await sleep(30);
    running--;
    return { changes: 2 };
  }, log, { debounceMs: 10, periodMs: 0 });
  for (let i = 0; i < 10; i++) r.trigger('burst');
  await sleep(60);
  r.trigger('during or after the run');
  r.trigger('again');
  await sleep(150);
  r.stop();
  assert.equal(maxRunning, 1);
  assert.equal(runs, 2, 'one run for the burst, one for the later triggers');
  assert.equal(r.status().totalChanges, 4);
});

test('a failed run is retried and reported; settled() waits for the next run', async () => {
  let calls = 0;
  const r = new Reconciler('t', () => {
    calls++;
    if (calls === 1) return Promise.reject(new Error('kernel said no'));
    return Promise.resolve({ changes: 0 });
  }, log, { debounceMs: 1, periodMs: 0, maxBackoffMs: 50 });
  await r.runNow('first');
  assert.equal(r.status().lastError, 'kernel said no');
  assert.equal(r.status().consecutiveFailures, 1);
  // The retry timer does not hold the process open (the agent's sockets do); hold it here.
  const hold = setInterval(() => undefined, 1000);
  await r.settled();
  clearInterval(hold);
  r.stop();
  assert.equal(r.status().lastError, undefined);
  assert.equal(calls, 2);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startHealthServer } from './health.js';

test('kd /readyz follows the ready check; /healthz the live one; anything else is 404', async (t) => {
  let ready = false;
  const server = await startHealthServer(0, { live: () => true, ready: () => ready });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const get = async (p: string) => (await fetch(`http://127.0.0.1:${port}${p}`)).status;
  assert.equal(await get('/healthz'), 200);
  assert.equal(await get('/readyz'), 503);
  ready = true;
  assert.equal(await get('/readyz'), 200);
  assert.equal(await get('/metrics'), 404);
  await assert.rejects(startHealthServer(port, { live: () => true, ready: () => true }), /cannot listen on 127\.0\.0\.1/);
});

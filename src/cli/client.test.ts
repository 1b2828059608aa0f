import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTwillError } from '../util/errors.js';
import { agentRequest } from './client.js';

test('an agent socket that is empty or relative is refused before anything connects (node:http would dial localhost:80)', async () => {
  for (const bad of ['', 'agent.sock', './run/agent.sock']) {
    await assert.rejects(agentRequest(bad, 'GET', '/v1/status'), (e) => isTwillError(e, 'CONFIG_INVALID') && /must be an absolute path/.test(e.message), JSON.stringify(bad));
  }
});

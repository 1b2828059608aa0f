// Runs the malformed-input table through the protocol layer and the shim's forwarding, with
// injected I/O: no process, no kernel. Only the rows marked needsAbsentAgent may try the socket.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { CniRequest } from './api.js';
import { postToAgent, runShim } from './shim.js';
import { ABSENT_AGENT_SOCKET, MALFORMED, MISSING_NETNS, resolveEnv } from './testdata/malformed.js';

const FAKE_NETNS = '/run/netns/twill-unit-test-pod';

function sink(): { write(s: string): void; text: () => string } {
  let buf = '';
  return { write: (s) => void (buf += s), text: () => buf };
}

describe('malformed invocations', () => {
  it('has at least 35 rows with unique names', () => {
    assert.ok(MALFORMED.length >= 35, `${MALFORMED.length} rows`);
    assert.equal(new Set(MALFORMED.map((r) => r.name)).size, MALFORMED.length);
    assert.equal(existsSync(ABSENT_AGENT_SOCKET), false, `${ABSENT_AGENT_SOCKET} must not exist`);
    assert.notEqual(FAKE_NETNS, MISSING_NETNS);
  });

  for (const row of MALFORMED) {
    it(`${row.name} -> ${row.code}`, async () => {
      const stdout = sink();
      const stderr = sink();
      const posted: CniRequest[] = [];
      const status = await runShim(
        {
          env: resolveEnv(row, FAKE_NETNS),
          stdin: Buffer.from(row.stdin),
          stdout,
          stderr,
          netnsExists: (p) => p === FAKE_NETNS,
        },
        {
          post: (socket, req, timeoutMs) => {
            posted.push(req);
            return postToAgent(socket, req, timeoutMs);
          },
          exec: () => Promise.reject(new Error('a malformed invocation must not run tools')),
        },
      );
      assert.equal(status, 1, 'exit status');
      const lines = stdout.text().trim().split('\n');
      assert.equal(lines.length, 1, `one JSON line on stdout, got ${stdout.text()}`);
      const out = JSON.parse(lines[0]!) as { cniVersion: string; code: number; msg: string };
      assert.equal(out.code, row.code, `code (msg: ${out.msg})`);
      assert.ok(out.msg.includes(row.msg), `msg ${JSON.stringify(out.msg)} should contain ${JSON.stringify(row.msg)}`);
      assert.equal(typeof out.cniVersion, 'string');
      assert.equal(posted.length, row.needsAbsentAgent ? 1 : 0, 'requests sent to the agent');
      if (row.needsAbsentAgent) assert.equal(posted[0]!.config['agentSocket'], ABSENT_AGENT_SOCKET);
    });
  }
});

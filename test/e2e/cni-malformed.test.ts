// The malformed-input table (src/cni/testdata/malformed.ts), end to end: the built twill-cni,
// started as a runtime starts it inside a node namespace where a real agent runs. Every row gets
// its CNI code and a message saying what is wrong; nothing crashes; no state is left behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ABSENT_AGENT_SOCKET, MALFORMED, resolveEnv, type MalformedRow } from '../../src/cni/testdata/malformed.js';
import { nodeShimBundle, shimRuntime, twillCniDir } from '../../src/util/paths.js';
import { TestScope } from '../support/scope.js';
import { NodeHarness } from '../support/node-harness.js';

const scope = new TestScope();
let node: NodeHarness;
let podNetns: string;

before(async () => {
  node = await NodeHarness.start(scope, { podCidr: '10.244.4.0/24' });
  podNetns = (await node.sandbox()).netns;
});
after(() => scope.cleanup());

/** Rows that reach the agent talk to the real one, unless the row is about an absent agent. */
function stdinFor(row: MalformedRow): string {
  try {
    const o = JSON.parse(row.stdin) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o) && !('agentSocket' in o)) {
      return JSON.stringify({ ...o, agentSocket: node.socket });
    }
  } catch {
    // not JSON: the row is about decoding
  }
  return row.stdin;
}

function runShim(shim: string, env: Record<string, string>, stdin: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', node.netns, shim], {
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.on('error', () => undefined); // the shim may stop reading oversize input early
    child.stdin.end(stdin);
  });
}

async function state(): Promise<{ records: string[]; links: string }> {
  const records = (await readdir(join(node.stateDir(), 'ipam')).catch(() => [])).sort();
  const links = (await node.exec(node.netns, ['ip', '-br', 'link'])).stdout.split('\n').map((l) => l.split(/\s/)[0]).sort().join(',');
  return { records, links };
}

// bin/twill-cni is the Bun-compiled shim when the build made one (dist/twill-cni.runtime says
// so); the Node bundle it was compiled from must behave the same, so both go through the table.
const runtime = shimRuntime();
const SHIMS: [label: string, path: string][] = [[`bin/twill-cni (${runtime})`, join(twillCniDir(), 'twill-cni')]];
if (runtime !== 'node') SHIMS.push(['the Node bundle it is compiled from', nodeShimBundle()]);

for (const [label, shim] of SHIMS)
  test(`${MALFORMED.length} malformed inputs through ${label}: right CNI code, actionable message, no crash, no state`, async () => {
    assert.ok(MALFORMED.length >= 30);
    const before = await state();
    const failures: string[] = [];
    for (const row of MALFORMED) {
      assert.ok(!row.needsAbsentAgent || row.stdin.includes(ABSENT_AGENT_SOCKET));
      const r = await runShim(shim, resolveEnv(row, podNetns), stdinFor(row));
      let out: { code?: number; msg?: string; cniVersion?: string } = {};
      try {
        out = JSON.parse(r.stdout) as typeof out;
      } catch {
        failures.push(`${row.name}: stdout is not JSON: ${r.stdout.slice(0, 200)}`);
        continue;
      }
      if (r.status !== 1) failures.push(`${row.name}: exit status ${r.status}, want 1`);
      if (out.code !== row.code) failures.push(`${row.name}: code ${out.code}, want ${row.code} (${out.msg})`);
      if (!out.msg?.includes(row.msg)) failures.push(`${row.name}: msg ${JSON.stringify(out.msg)} lacks ${JSON.stringify(row.msg)}`);
      if (/\n\s+at /.test(r.stderr)) failures.push(`${row.name}: a stack trace on stderr: ${r.stderr.slice(0, 300)}`);
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(await state(), before, 'no address record and no interface left behind');
    // The agent is still healthy after all of it.
    const ok = await node.runtime.addNetworkList(node.conflist(), await node.sandbox());
    assert.ok(ok);
  });

test('the working directory cannot change what the shim does (no .env, bunfig.toml or package.json is read)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'twill-cwd-'));
  try {
    await writeFile(join(dir, '.env'), 'CNI_COMMAND=ADD\nCNI_IFNAME=../x\n');
    await writeFile(join(dir, 'bunfig.toml'), 'preload = ["./evil.js"]\n');
    await writeFile(join(dir, 'evil.js'), 'process.stdout.write("evil");\n');
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    for (const [label, shim] of SHIMS) {
      const r = await new Promise<{ status: number | null; stdout: string }>((resolve, reject) => {
        const child = spawn(shim, [], { cwd: dir, env: { PATH: process.env['PATH'] ?? '/usr/bin', CNI_COMMAND: 'VERSION' }, stdio: ['pipe', 'pipe', 'inherit'] });
        let stdout = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.on('error', reject);
        child.on('close', (status) => resolve({ status, stdout }));
        child.stdin.end('');
      });
      assert.equal(r.status, 0, label);
      assert.match(r.stdout, /^\{"cniVersion":"1\.1\.0","supportedVersions":\[/, `${label} answered VERSION, untouched by the directory's files`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkPolicy } from '../model/types.js';
import { Logger, setLogSink } from '../util/log.js';
import { AcceptedPolicies } from './accepted-policies.js';

const pol = (name: string, spec: unknown = { podSelector: {} }): NetworkPolicy => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'x' }, spec }) as NetworkPolicy;

async function withDir(fn: (dir: string, warnings: string[]) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'twill-accepted-'));
  const warnings: string[] = [];
  setLogSink({ write: (s: string) => void warnings.push(s) });
  try {
    await fn(dir, warnings);
  } finally {
    setLogSink(process.stderr);
    await rm(dir, { recursive: true, force: true });
  }
}

test('accepted versions survive a restart; deleted policies are forgotten', () =>
  withDir(async (dir) => {
    const file = join(dir, 'policy', 'accepted.json');
    const a = new AcceptedPolicies(file, new Logger('t'));
    await a.load();
    a.set('x/p', pol('p'));
    a.set('x/q', pol('q'));
    await a.save();
    const b = new AcceptedPolicies(file, new Logger('t'));
    await b.load();
    assert.deepEqual(b.get('x/p'), pol('p'));
    b.retain(new Set(['x/q']));
    await b.save();
    const c = new AcceptedPolicies(file, new Logger('t'));
    await c.load();
    assert.equal(c.get('x/p'), undefined);
    assert.deepEqual(c.get('x/q'), pol('q'));
  }));

test('an invalid entry (a hand-edited file) is dropped; a corrupt file is survived with a warning', () =>
  withDir(async (dir, warnings) => {
    const file = join(dir, 'accepted.json');
    await writeFile(file, JSON.stringify({ 'x/ok': pol('ok'), 'x/bad': pol('bad', { podSelector: {}, policyTypes: ['Sideways'] }) }));
    const a = new AcceptedPolicies(file, new Logger('t'));
    await a.load();
    assert.ok(a.get('x/ok'));
    assert.equal(a.get('x/bad'), undefined);
    await writeFile(file, '{not json');
    const b = new AcceptedPolicies(file, new Logger('t'));
    await b.load();
    assert.equal(b.get('x/ok'), undefined);
    assert.match(warnings.join(''), /not valid JSON/);
    b.set('x/ok', pol('ok'));
    await b.save();
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { 'x/ok': pol('ok') });
  }));

test('without a file nothing touches the disk', async () => {
  const a = new AcceptedPolicies(undefined, new Logger('t'));
  await a.load();
  a.set('x/p', pol('p'));
  await a.save();
  assert.deepEqual(a.get('x/p'), pol('p'));
});

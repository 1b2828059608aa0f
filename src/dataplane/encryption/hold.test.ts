import assert from 'node:assert/strict';
import { test } from 'node:test';
import { holdPeers, type HoldInput } from './hold.js';
import type { EncryptionPeer } from './types.js';

const key = (n: number): string => Buffer.alloc(32, n).toString('base64');
const peer = (name: string, n: number, blocks: string[]): EncryptionPeer => ({ name, underlayIP: `192.0.2.1${n}`, blocks, wireguard: { publicKey: key(n), port: 51871 } });
const b = peer('node-2', 2, ['10.244.0.64/26']);
const c = peer('node-3', 3, ['10.244.1.0/26', '10.244.2.0/26']);
const input = (over: Partial<HoldInput>): HoldInput => ({
  live: [], known: [b, c], self: { name: 'node-1', blocks: ['10.244.0.0/26'] }, nowMs: 10_000, graceMs: 30_000, goneSince: new Map(), claimedBy: () => undefined, ...over,
});

test('holdPeers: a live peer is not held; a gone one keeps its last key, endpoint and blocks while it still claims them', () => {
  const since = new Map<string, number>();
  const r = holdPeers(input({ live: [c], goneSince: since, claimedBy: (n) => (n === 'node-2' ? ['10.244.0.64/26'] : []) }));
  assert.deepEqual(r.held, [{ ...b, goneForMs: 0 }]);
  assert.deepEqual(r.released, []);
  assert.equal(since.get('node-2'), 10_000, 'first seen gone now');
  // Still claimed much later (block grace not over): still held, gone time counted.
  const later = holdPeers(input({ live: [c], goneSince: since, nowMs: 500_000, claimedBy: () => ['10.244.0.64/26'] }));
  assert.equal(later.held[0]?.goneForMs, 490_000);
});

test('holdPeers: released once its blocks are reclaimed, or when they cannot be checked and the grace is over', () => {
  const reclaimed = holdPeers(input({ known: [b], claimedBy: () => [] }));
  assert.deepEqual(reclaimed.held, []);
  assert.match(reclaimed.released[0]!.why, /reclaimed/);
  const since = new Map([['node-2', 0]]);
  assert.equal(holdPeers(input({ known: [b], goneSince: since, nowMs: 29_000 })).held.length, 1, 'unknown claims: held within the grace');
  const over = holdPeers(input({ known: [b], goneSince: since, nowMs: 31_000 }));
  assert.deepEqual(over.held, []);
  assert.match(over.released[0]!.why, /gone for 31 s/);
});

test('holdPeers: a block now held by a live node or by this node is never held for a gone one', () => {
  const moved = peer('node-4', 4, ['10.244.2.0/26']);
  const r = holdPeers(input({ known: [c], live: [moved] }));
  assert.deepEqual(r.held.map((p) => p.blocks), [['10.244.1.0/26']], 'only the block nobody else holds');
  const mine = holdPeers(input({ known: [peer('node-2', 2, ['10.244.0.0/26'])] }));
  assert.deepEqual(mine.held, []);
  assert.equal(mine.released.length, 1);
});

test('holdPeers: a gone peer whose address another live node now has is released', () => {
  const r = holdPeers(input({ known: [b], live: [{ ...peer('node-9', 9, ['10.244.9.0/26']), underlayIP: b.underlayIP }] }));
  assert.deepEqual(r.held, []);
  assert.match(r.released[0]!.why, /now another node's/);
});

test('holdPeers: a peer that came back clears its gone time; forgotten names are dropped', () => {
  const since = new Map([['node-2', 1], ['node-9', 1]]);
  holdPeers(input({ live: [b], known: [b], goneSince: since }));
  assert.deepEqual([...since.keys()], []);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockAt, blockCount, blockName, candidateBlocks, validatePool } from './pool.js';
import { isTwillError } from '../../util/errors.js';

const pool = { pool: '10.244.0.0/16', blockPrefix: 26 };

test('blocks of a pool', () => {
  assert.equal(blockCount(pool), 1024);
  assert.equal(blockAt(pool, 0), '10.244.0.0/26');
  assert.equal(blockAt(pool, 5), '10.244.1.64/26');
  assert.equal(blockAt(pool, 1023), '10.244.255.192/26');
  assert.equal(blockName('10.244.1.64/26'), '10.244.1.64-26');
});

test('candidates start at a per-node position, cover the pool once, skip taken blocks', () => {
  const small = { pool: '10.244.0.0/24', blockPrefix: 26 };
  const a = [...candidateBlocks(small, 'node-1', new Set())];
  assert.equal(a.length, 4);
  assert.equal(new Set(a).size, 4);
  const b = [...candidateBlocks(small, 'node-1', new Set([a[0]!]))];
  assert.deepEqual(b, a.slice(1));
  const starts = new Set(['node-1', 'node-2', 'node-3', 'node-4', 'node-5'].map((n) => candidateBlocks(pool, n, new Set()).next().value));
  assert.ok(starts.size >= 4, 'different nodes start at different blocks');
});

test('pool validation', () => {
  assert.throws(() => validatePool({ pool: '10.244.0.0/16', blockPrefix: 8 }), (e) => isTwillError(e, 'CONFIG_INVALID'));
  assert.throws(() => validatePool({ pool: '10.244.0.0/16', blockPrefix: 31 }), (e) => isTwillError(e, 'CONFIG_INVALID'));
  validatePool(pool);
});

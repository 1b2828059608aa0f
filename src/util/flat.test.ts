import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flat, StringPool } from './flat.js';
import { retainedBy } from './heap.js';

const keys = (f: (s: string) => string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < 20_000; i++) out.push(f(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255} . tcp . ${80 + (i % 7)} . ${i % 3}`));
  return out;
};

describe('flat strings', () => {
  it('keeps the value', () => {
    const a = 'x'.repeat(3);
    assert.equal(flat(`${a} . ${a} . 1`), 'xxx . xxx . 1');
    assert.equal(flat(''), '');
  });

  it('holds long-lived keys in far less heap than the strings as built', () => {
    const built = retainedBy(() => keys((s) => s));
    const flattened = retainedBy(() => keys(flat));
    assert.ok(flattened < built / 2, `flattened ${flattened} bytes, as built ${built} bytes`);
  });

  it('a pool answers one instance per value, and starts over when full', () => {
    const pool = new StringPool(2);
    const a = pool.get(`goto ${'svc_v4_'}${3}`);
    assert.equal(pool.get(`goto svc_v4_${3}`), a);
    pool.get('b');
    pool.get('c');
    assert.equal(pool.get('goto svc_v4_3'), 'goto svc_v4_3', 'a value evicted by a reset is still answered');
  });
});

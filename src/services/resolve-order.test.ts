// Endpoints are listed by address in the numeric collator's order (golden files depend on it); the
// fast path for IPv4 must give the same order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { byAddress } from './resolve.js';

describe('endpoint order', () => {
  it('IPv4 addresses compare as the numeric collator orders them, without it', () => {
    const collate = new Intl.Collator('en', { numeric: true }).compare;
    const sign = (n: number): number => Math.sign(n);
    let seed = 7;
    const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const ip = (): string => Array.from({ length: 4 }, () => String(rnd(4) === 0 ? rnd(1000) : rnd(12))).join('.');
    const odd = ['10.0.0.010', 'fd00::a', 'fd00::9', '10.0.0.1', '1.999.0.0', '2.0.0.0', '1.2.3', '1.2.3.4.5', '1.2.3.', '1..2.3', '01.2.3.4', '0.0.0.0', '255.255.255.255', '1.2.3.4a', '1.2.3.1000', ''];
    for (let i = 0; i < 5000; i++) {
      const [a, b] = i < odd.length * odd.length ? [odd[i % odd.length]!, odd[Math.floor(i / odd.length)]!] : [ip(), ip()];
      assert.equal(sign(byAddress(a, b)), sign(collate(a, b)), `${a} vs ${b}`);
    }
  });
});

// Golden tests of the twill-nat table text (UPDATE_GOLDEN=1 rewrites testdata/).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isTwillError } from '../../util/errors.js';
import { assertGolden } from '../../../test/support/golden.js';
import { compileNat, type NatSnapshot } from './compile.js';

const TESTDATA = join(import.meta.dirname, 'testdata');

const cases: Record<string, NatSnapshot> = {
  'ipv4-inet': { enabled: true, pools: ['10.244.0.0/16'] },
  'ipv4-ip-family': { enabled: true, pools: ['10.244.0.0/16'], family: 'ip' },
  'dual-stack': { enabled: true, pools: ['fd00:10:244::/56', '10.244.128.0/17', '10.244.0.0/16', '10.245.0.0/16', '10.244.0.0/16'] },
  disabled: { enabled: false, pools: ['10.244.0.0/16'] },
};

describe('compileNat', () => {
  for (const [name, snap] of Object.entries(cases)) {
    test(`golden: ${name}`, () => assertGolden(join(TESTDATA, `${name}.nft`), compileNat(snap).script));
  }

  test('the table is present exactly when NAT is on', () => {
    assert.equal(compileNat(cases['ipv4-inet']!).present, true);
    assert.equal(compileNat(cases['disabled']!).present, false);
  });

  test('bad input says what to change', () => {
    const bad: [NatSnapshot, RegExp][] = [
      [{ enabled: true, pools: [] }, /no pod pool/],
      [{ enabled: true, pools: ['10.244.0.0'] }, /not a CIDR/],
      [{ enabled: true, pools: ['fd00::/56'], family: 'ip' }, /use family inet/],
    ];
    for (const [s, re] of bad) assert.throws(() => compileNat(s), (e: unknown) => isTwillError(e, 'CONFIG_INVALID') && re.test(e.message));
  });
});

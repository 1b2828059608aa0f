// Summary arithmetic and the table (golden; UPDATE_GOLDEN=1 rewrites testdata/).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { assertGolden } from '../../test/support/golden.js';
import { formatBench, median, roundOrder, spread, summarize, type Sample } from './bench-report.js';

const TESTDATA = join(import.meta.dirname, 'testdata');
const s = (...gbps: number[]): Sample[] => gbps.map((g, i) => ({ gbps: g, retransmits: i, cpuPressure: 0.1 * i, gbitPerCpuSecond: g * 1.5 }));
const nft = { twill: ['inet twill-nat', 'inet twill-policy'], kernel: ['ip hand-nat'] };

describe('bench report', () => {
  test('median of odd and even counts; NaN for none', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  test('rounds interleave every path of every mode, reversed on every second repeat', () => {
    const odd = [['v', 'twill'], ['v', 'kernel'], ['v', 'underlay'], ['h', 'twill'], ['h', 'kernel'], ['h', 'underlay']];
    assert.deepEqual(roundOrder(['v', 'h'], 1), odd);
    assert.deepEqual(roundOrder(['v', 'h'], 2), [...odd].reverse());
    assert.deepEqual(roundOrder(['v', 'h'], 3), odd);
  });

  test('spread is min, max and their distance relative to the median', () => {
    assert.deepEqual(spread([10, 8, 12]), { min: 8, max: 12, relative: 0.4 });
  });

  test('summarize: medians, paired ratios and their median, the floor', () => {
    const r = summarize('vxlan', { twill: s(9.6, 9.9, 9.7), kernel: s(10, 10, 9.8), underlay: s(20, 21, 19) }, { durationSeconds: 5, parity: [], nftables: nft });
    assert.equal(r.twillGbps, 9.7);
    assert.equal(r.kernelGbps, 10);
    assert.equal(r.underlayGbps, 20);
    assert.equal(r.ratioOfMedians, 0.97);
    // The floor is judged on the median of the per-repeat ratios (0.96, 0.99, 0.99).
    assert.equal(r.ratio, 0.99);
    assert.equal(r.meetsFloor, true);
    assert.deepEqual(r.pairedRatios, [0.96, 0.99, 0.99]);
    assert.equal(r.repeats, 3);
    assert.equal(r.cpuPressure, 0.1);
    assert.deepEqual(r.gbitPerCpuSecond.kernel, [15, 15, 14.7]);
    assert.equal(r.cpuRatio, 0.97);
    const low = summarize('host-gw', { twill: s(9), kernel: s(10), underlay: s(20) }, { durationSeconds: 1, parity: [], nftables: nft });
    assert.equal(low.ratio, 0.9);
    assert.equal(low.meetsFloor, false);
    // A load swing between repeats moves the medians apart; the pairs stay level.
    const swing = summarize('vxlan', { twill: s(9, 5, 4.9), kernel: s(9, 5, 10), underlay: s(20, 20, 20) }, { durationSeconds: 1, parity: [], nftables: nft });
    assert.equal(swing.ratioOfMedians, 0.556);
    assert.equal(swing.ratio, 1);
    assert.equal(swing.meetsFloor, true);
  });

  test('golden: the table marks the floor and lists parity differences', () => {
    const results = [
      summarize('vxlan', { twill: s(5.1, 5.3, 4.9), kernel: s(5.2, 5.2, 5.0), underlay: s(7.5, 7.1, 7.9) }, { durationSeconds: 5, parity: [], nftables: nft }),
      summarize('host-gw', { twill: s(4.0, 4.2, 4.1), kernel: s(5.0, 5.1, 4.9), underlay: s(7.0, 7.2, 7.1) }, { durationSeconds: 5, parity: ['src host veth mtu: twill 1450, kernel 1500'], nftables: nft }),
    ];
    assertGolden(join(TESTDATA, 'bench-table.golden'), formatBench(results) + '\n');
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { meetsJoinFloor, percentiles, phase } from './convergence-report.js';

describe('convergence report', () => {
  test('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual(percentiles(xs), { n: 100, min: 1, p50: 50, p99: 99, max: 100 });
    assert.deepEqual(percentiles([5]), { n: 1, min: 5, p50: 5, p99: 5, max: 5 });
    assert.ok(Number.isNaN(percentiles([]).p50));
  });

  test('missing samples are counted and fail the join floor', () => {
    const ok = phase([{ round: 1, peer: 'a', ms: 40 }, { round: 1, peer: 'b', ms: 900 }]);
    assert.equal(ok.missing, 0);
    assert.equal(meetsJoinFloor(ok), true);
    const miss = phase([{ round: 1, peer: 'a', ms: 40 }, { round: 1, peer: 'b', ms: undefined }]);
    assert.equal(miss.missing, 1);
    assert.equal(meetsJoinFloor(miss), false);
    assert.equal(meetsJoinFloor(phase([{ round: 1, peer: 'a', ms: 1200 }])), false);
    assert.equal(meetsJoinFloor(phase([])), false);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { percentile, podStartRatio, summarize } from './report.js';

test('percentiles: nearest rank; the ratio compares p50s', () => {
  assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), 9);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.equal(podStartRatio(summarize([110, 120, 130]), summarize([100, 100, 100])), 1.2);
});

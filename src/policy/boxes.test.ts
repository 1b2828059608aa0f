import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decompose, mergeRanges, subtractRanges, type Box, type Range } from './boxes.js';
import { Rng } from './testing/world.js';

const r = (lo: number, hi: number): Range => [BigInt(lo), BigInt(hi)];
const show = (bs: Box[]): string[] => bs.map((b) => `${b.dims.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(' . ')} : ${b.label}`);

test('mergeRanges joins overlapping and touching ranges; subtractRanges cuts holes', () => {
  assert.deepEqual(mergeRanges([r(5, 6), r(1, 2), r(3, 3), r(8, 9), r(4, 4)]), [r(1, 6), r(8, 9)]);
  assert.deepEqual(mergeRanges([r(1, 2), r(4, 5)]), [r(1, 2), r(4, 5)]);
  assert.deepEqual(subtractRanges(r(0, 100), [r(10, 19), r(50, 200), r(15, 30)]), [r(0, 9), r(31, 49)]);
  assert.deepEqual(subtractRanges(r(0, 10), [r(0, 10)]), []);
  assert.deepEqual(subtractRanges(r(5, 10), [r(0, 2)]), [r(5, 10)]);
});

test('decompose: overlaps get the smallest label, equal neighbours merge', () => {
  const out = decompose([
    { dims: [r(10, 20), r(6, 6), r(80, 80)], label: 2 },
    { dims: [r(15, 30), r(6, 6), r(0, 65535)], label: 1 },
    { dims: [r(21, 22), r(6, 6), r(80, 80)], label: 2 },
  ]);
  assert.deepEqual(show(out), ['10-14 . 6 . 80 : 2', '15-30 . 6 . 0-65535 : 1']);
  // Contiguous single addresses with the same contents fold into one range.
  const pods = [1, 2, 3, 5].map((a) => ({ dims: [r(a, a), r(17, 17), r(53, 53)], label: 0 }));
  assert.deepEqual(show(decompose(pods)), ['1-3 . 17 . 53 : 0', '5 . 17 . 53 : 0']);
});

test('decompose: random boxes — disjoint output, same coverage, minimal label at every point', () => {
  const rng = new Rng(7);
  for (let run = 0; run < 200; run++) {
    const boxes: Box[] = Array.from({ length: rng.int(1, 6) }, () => {
      const dim = (): Range => {
        const a = rng.int(0, 9);
        return r(a, a + rng.int(0, 4));
      };
      return { dims: [dim(), dim()], label: rng.int(0, 3) };
    });
    const out = decompose(boxes);
    for (let x = 0; x <= 14; x++) {
      for (let y = 0; y <= 14; y++) {
        const inside = (b: Box): boolean => b.dims[0]![0] <= x && x <= b.dims[0]![1] && b.dims[1]![0] <= y && y <= b.dims[1]![1];
        const want = boxes.filter(inside).map((b) => b.label);
        const got = out.filter(inside).map((b) => b.label);
        assert.ok(got.length <= 1, `run ${run}: (${x},${y}) covered ${got.length} times`);
        assert.deepEqual(got, want.length ? [Math.min(...want)] : [], `run ${run}: (${x},${y})`);
      }
    }
  }
});

// Boxes: products of inclusive integer ranges (address × protocol × port), each carrying a label.
// nftables interval maps must not hold overlapping elements (the kernel only partly checks), so
// the compiler turns a pile of possibly overlapping "allow" boxes into a disjoint cover in which
// every point keeps the smallest label of the boxes covering it. Adjacent pieces with equal
// contents are merged, which is what folds contiguous pod addresses into one range.

/** Inclusive [lo, hi]. */
export type Range = readonly [bigint, bigint];

export interface Box {
  dims: Range[];
  label: number;
}

const cmp = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/** Sorted, merged (touching ranges joined) copy of `ranges`. */
export function mergeRanges(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => cmp(a[0], b[0]));
  const out: [bigint, bigint][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) {
      if (hi > last[1]) last[1] = hi;
    } else out.push([lo, hi]);
  }
  return out;
}

/** `base` minus every range in `holes`, as sorted disjoint ranges. */
export function subtractRanges(base: Range, holes: Range[]): Range[] {
  const out: Range[] = [];
  let cur = base[0];
  for (const [lo, hi] of mergeRanges(holes)) {
    if (hi < cur || lo > base[1]) continue;
    if (lo > cur) out.push([cur, lo - 1n]);
    cur = hi + 1n;
    if (cur > base[1]) return out;
  }
  if (cur <= base[1]) out.push([cur, base[1]]);
  return out;
}

function subKey(boxes: Box[]): string {
  return boxes.map((b) => `${b.dims.map((r) => `${r[0]}-${r[1]}`).join('.')}:${b.label}`).join('|');
}

/**
 * A disjoint cover of the union of `boxes`; each point's label is the smallest label among the
 * input boxes containing it. Output is sorted by dimension 0, then 1, … . All boxes must have
 * the same number of dimensions.
 */
export function decompose(boxes: Box[]): Box[] {
  if (boxes.length === 0) return [];
  return decomposeFrom(boxes, 0, boxes[0]!.dims.length);
}

function decomposeFrom(boxes: Box[], d: number, ndims: number): Box[] {
  if (d === ndims) return [{ dims: [], label: Math.min(...boxes.map((b) => b.label)) }];
  const points = [...new Set(boxes.flatMap((b) => [b.dims[d]![0], b.dims[d]![1] + 1n]))].sort(cmp);
  const byLo = [...boxes].sort((a, b) => cmp(a.dims[d]![0], b.dims[d]![0]));
  let next = 0;
  let active: Box[] = [];
  const pieces: { lo: bigint; hi: bigint; key: string; sub: Box[] }[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const lo = points[i]!;
    const hi = points[i + 1]! - 1n;
    while (next < byLo.length && byLo[next]!.dims[d]![0] <= lo) active.push(byLo[next++]!);
    active = active.filter((b) => b.dims[d]![1] >= lo);
    if (active.length === 0) continue;
    const sub = decomposeFrom(active, d + 1, ndims);
    const key = subKey(sub);
    const last = pieces[pieces.length - 1];
    if (last && last.hi + 1n === lo && last.key === key) last.hi = hi;
    else pieces.push({ lo, hi, key, sub });
  }
  return pieces.flatMap((p) => p.sub.map((s) => ({ dims: [[p.lo, p.hi] as Range, ...s.dims], label: s.label })));
}

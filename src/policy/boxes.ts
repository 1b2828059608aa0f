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

interface NBox {
  dims: [number, number][];
  label: number;
  id: number;
}

interface Sub {
  boxes: { dims: [number, number][]; label: number }[];
  key: string;
}

/**
 * A disjoint cover of the union of `boxes`; each point's label is the smallest label among the
 * input boxes containing it. Output is sorted by dimension 0, then 1, … . All boxes must have
 * the same number of dimensions.
 *
 * The sweep works on ranks, not values: each dimension's boundaries (lo and hi+1 of every box)
 * are sorted once and replaced by their index, which keeps order and adjacency and turns 128-bit
 * bigint arithmetic into small-integer arithmetic.
 */
export function decompose(boxes: Box[]): Box[] {
  if (boxes.length === 0) return [];
  const input = premerge(boxes);
  const ndims = input[0]!.dims.length;
  const points: bigint[][] = [];
  const rank: Map<bigint, number>[] = [];
  for (let d = 0; d < ndims; d++) {
    const pts = [...new Set(input.flatMap((b) => [b.dims[d]![0], b.dims[d]![1] + 1n]))].sort(cmp);
    points.push(pts);
    rank.push(new Map(pts.map((v, i) => [v, i])));
  }
  const nboxes: NBox[] = input.map((b, id) => ({ dims: b.dims.map((r, d) => [rank[d]!.get(r[0])!, rank[d]!.get(r[1] + 1n)! - 1] as [number, number]), label: b.label, id }));
  return decomposeFrom(nboxes, 0, ndims, new Map()).map((b) => ({
    dims: b.dims.map(([lo, hi], d) => [points[d]![lo]!, points[d]![hi + 1]! - 1n] as Range),
    label: b.label,
  }));
}

/**
 * Boxes that differ only in dimension 0 (same label, same other ranges) are one box per merged
 * dimension-0 range: the same set, and far fewer boxes when a rule names many pods.
 */
function premerge(boxes: Box[]): Box[] {
  const groups = new Map<string, { rest: Range[]; label: number; first: Range[] }>();
  for (const b of boxes) {
    const rest = b.dims.slice(1);
    const key = `${b.label}|${rest.map((r) => `${r[0]}-${r[1]}`).join('.')}`;
    const g = groups.get(key);
    if (g) g.first.push(b.dims[0]!);
    else groups.set(key, { rest, label: b.label, first: [b.dims[0]!] });
  }
  const out: Box[] = [];
  for (const g of groups.values()) for (const r of mergeRanges(g.first)) out.push({ dims: [r, ...g.rest], label: g.label });
  return out;
}

const subKey = (boxes: Sub['boxes']): string => boxes.map((b) => `${b.dims.map((r) => `${r[0]}-${r[1]}`).join('.')}:${b.label}`).join('|');

function decomposeFrom(boxes: NBox[], d: number, ndims: number, memo: Map<string, Sub>): Sub['boxes'] {
  const points = [...new Set(boxes.flatMap((b) => [b.dims[d]![0], b.dims[d]![1] + 1]))].sort((a, b) => a - b);
  const byLo = [...boxes].sort((a, b) => a.dims[d]![0] - b.dims[d]![0]);
  let next = 0;
  let active: NBox[] = [];
  const pieces: { lo: number; hi: number; sub: Sub }[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const lo = points[i]!;
    const hi = points[i + 1]! - 1;
    while (next < byLo.length && byLo[next]!.dims[d]![0] <= lo) active.push(byLo[next++]!);
    active = active.filter((b) => b.dims[d]![1] >= lo);
    if (active.length === 0) continue;
    const sub = subFor(active, d, ndims, memo);
    const last = pieces[pieces.length - 1];
    if (last && last.hi + 1 === lo && last.sub.key === sub.key) last.hi = hi;
    else pieces.push({ lo, hi, sub });
  }
  return pieces.flatMap((p) => p.sub.boxes.map((s) => ({ dims: [[p.lo, p.hi] as [number, number], ...s.dims], label: s.label })));
}

/**
 * The decomposition of the remaining dimensions for one set of active boxes. The same set recurs
 * along a sweep (a rule covering many addresses), so it is computed once per set.
 */
function subFor(active: NBox[], d: number, ndims: number, memo: Map<string, Sub>): Sub {
  if (d + 1 === ndims) {
    const boxes = [{ dims: [] as [number, number][], label: Math.min(...active.map((b) => b.label)) }];
    return { boxes, key: `:${boxes[0]!.label}` };
  }
  if (active.length === 1) {
    const b = active[0]!;
    const boxes = [{ dims: b.dims.slice(d + 1), label: b.label }];
    return { boxes, key: subKey(boxes) };
  }
  const id = `${d}:${active.map((b) => b.id).sort((a, b) => a - b).join(',')}`;
  let sub = memo.get(id);
  if (!sub) {
    const boxes = decomposeFrom(active, d + 1, ndims, memo);
    sub = { boxes, key: subKey(boxes) };
    memo.set(id, sub);
  }
  return sub;
}

// The first table into a kernel that has none (a node's first start, or after `nft flush
// ruleset`): the table with its bulk maps declared empty goes through `nft -f`, then the maps'
// elements as nf_tables netlink batches. nft spends ~10–30 µs of its own CPU per element parsing
// and evaluating text (most of a 70,000-element load at 10,000 Services: 0.7–1 s); encoded here
// they cost a few µs each. With no table there is no traffic to keep flowing through a
// replacement, so the load need not be one transaction; an agent that restarts onto its own table
// still replaces it in one `nft -f` (apply.ts).
//
// Order keeps every Service whole: first the maps a packet reaches *through* a Service (endpoint
// draws, hairpin pairs), then, in one transaction, the maps that make a Service reachable at all
// (its addresses, NodePorts, and the no-endpoint rejects). A Service is therefore either absent or
// complete, and once one is present all are. Pure.
import { NFPROTO_INET, NftBatch } from '../dataplane/kernel/nfnetlink.js';
import type { DiffOp } from '../policy/diff.js';
import type { NftElement, NftSet, NftTableModel } from '../policy/model.js';
import { encodeDiff } from '../policy/netlink.js';
import { BULK } from './compile.js';
import { encodeBulkElements } from './elements-encode.js';

/**
 * Elements per netlink message: its nested attributes carry a 16-bit length (64 KB), and an
 * element is at most ~100 bytes (an IPv6 endpoint draw with its value).
 */
export const ELEMENTS_PER_MESSAGE = 400;
/** Elements per transaction before the last (one sendmsg each; the socket's send buffer is 4 MB). */
export const ELEMENTS_PER_TRANSACTION = 8000;

/** Maps that make a Service reachable: loaded last, in one transaction. */
const ENTRY = new Set(['service_ips', 'nodeports', 'no_endpoints', 'no_endpoint_nodeports']);

export interface FirstLoad {
  /** The table with the bulk maps declared and empty (one `nft -f`). */
  skeleton: NftTableModel;
  /** Then these transactions, in order; the last holds every entry map's elements. */
  transactions: DiffOp[][];
  elements: number;
}

export function planFirstLoad(model: NftTableModel): FirstLoad {
  const bulk = new Set(BULK.flatMap((b) => [`${b}_v4`, `${b}_v6`]));
  const isEntry = (s: NftSet): boolean => ENTRY.has(s.name.replace(/_v[46]$/, ''));
  const filled = model.sets.filter((s) => bulk.has(s.name) && s.elements.length > 0);
  const skeleton: NftTableModel = { ...model, sets: model.sets.map((s) => (bulk.has(s.name) ? { ...s, elements: [] } : s)) };
  const messages = (s: NftSet): DiffOp[] => {
    const out: DiffOp[] = [];
    for (let i = 0; i < s.elements.length; i += ELEMENTS_PER_MESSAGE) out.push({ op: 'addElements', set: s, elements: s.elements.slice(i, i + ELEMENTS_PER_MESSAGE) });
    return out;
  };
  const transactions: DiffOp[][] = [];
  let current: DiffOp[] = [];
  let inCurrent = 0;
  for (const s of filled.filter((x) => !isEntry(x))) {
    for (const op of messages(s)) {
      const n = (op as { elements: NftElement[] }).elements.length;
      if (inCurrent > 0 && inCurrent + n > ELEMENTS_PER_TRANSACTION) {
        transactions.push(current);
        [current, inCurrent] = [[], 0];
      }
      current.push(op);
      inCurrent += n;
    }
  }
  if (current.length) transactions.push(current);
  const entry = filled.filter(isEntry).flatMap(messages);
  if (entry.length) transactions.push(entry);
  return { skeleton, transactions, elements: filled.reduce((n, s) => n + s.elements.length, 0) };
}

/**
 * The transactions as netlink batches: each message's elements written by elements-encode.ts,
 * or by the general encoder when they are of another shape; undefined when neither can.
 */
export function encodeFirstLoad(table: string, transactions: DiffOp[][]): NftBatch[] | undefined {
  const out: NftBatch[] = [];
  for (const ops of transactions) {
    const batch = new NftBatch(NFPROTO_INET, table);
    for (const o of ops) {
      if (o.op !== 'addElements') return undefined;
      const list = encodeBulkElements(o.set, o.elements);
      if (list) {
        batch.addEncodedElements(o.set.name, list, `add element inet ${table} ${o.set.name} { ${o.elements[0]?.key ?? ''}, … (${o.elements.length} elements) }`);
        continue;
      }
      const enc = encodeDiff(table, [o]);
      if (!('batch' in enc)) return undefined;
      batch.messages.push(...enc.batch.messages);
    }
    out.push(batch);
  }
  return out;
}

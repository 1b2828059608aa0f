// A bounded ring of flow records. When full, the oldest record is overwritten and counted: a
// reader whose cursor fell behind learns how many records it missed, never silently.
//
// Records are stored in columns, not as objects or text: numbers (time, ports, counts, flags) in
// typed arrays, and one reference per record to its identity (its two ends, policies and
// decision), which records of the same flow key share (record.ts). A full default ring of 16,384
// records is ~1 MB of columns plus the identities, where records kept as JSON text took ~20 MB of
// strings and one JSON.stringify per event. Readers get whole FlowRecords, made when they read.
import { recordOf, type FlowIdentity, type FlowParts, type FlowRecord } from './record.js';

const EVENTS = ['new', 'end', 'drop'] as const;
const DROP_REASONS = [undefined, 'POLICY_DENIED', 'INVALID_SOURCE_IP'] as const;

// flags: bits 0–1 event, 2 verdict DROPPED, 3 direction INGRESS, 4–5 drop reason, 6 family 6,
// 7 has counters.
const F_DROPPED = 1 << 2;
const F_INGRESS = 1 << 3;
const F_V6 = 1 << 6;
const F_COUNTERS = 1 << 7;

export class FlowRing {
  private next = 1;
  /** Records overwritten before anyone could be sure to read them. */
  overwritten = 0;
  private readonly timeMs: Float64Array;
  private readonly flags: Uint8Array;
  private readonly proto: Uint8Array;
  /** Source and destination ports, or ICMP type and code. */
  private readonly a: Uint16Array;
  private readonly b: Uint16Array;
  private readonly hasPorts: Uint8Array;
  /** Conntrack id, -1 when none. */
  private readonly ctId: Float64Array;
  /** packets, bytes, reply packets, reply bytes, duration (NaN: none) per record. */
  private readonly counts: Float64Array;
  private readonly identity: (FlowIdentity | undefined)[];
  private readonly node: (string | undefined)[];
  private readonly rule: (string | undefined)[];
  /** One copy of each NFLOG prefix, however many records name it. */
  private readonly rules = new Map<string, string>();

  constructor(readonly size: number) {
    this.timeMs = new Float64Array(size);
    this.flags = new Uint8Array(size);
    this.proto = new Uint8Array(size);
    this.a = new Uint16Array(size);
    this.b = new Uint16Array(size);
    this.hasPorts = new Uint8Array(size);
    this.ctId = new Float64Array(size);
    this.counts = new Float64Array(size * 5);
    this.identity = new Array<FlowIdentity | undefined>(size);
    this.node = new Array<string | undefined>(size);
    this.rule = new Array<string | undefined>(size);
  }

  /** Stores a record; returns its id. */
  push(p: FlowParts): number {
    const id = this.next++;
    const i = id % this.size;
    if (this.identity[i]) this.overwritten++;
    const t = p.tuple;
    this.timeMs[i] = p.timeMs;
    let f = EVENTS.indexOf(p.event) | (p.verdict === 'DROPPED' ? F_DROPPED : 0) | (p.traffic_direction === 'INGRESS' ? F_INGRESS : 0) | (DROP_REASONS.indexOf(p.drop_reason) << 4) | (t.family === 6 ? F_V6 : 0);
    this.proto[i] = t.proto;
    const icmp = t.proto === 1 || t.proto === 58;
    this.a[i] = (icmp ? t.icmpType : t.srcPort) ?? 0;
    this.b[i] = (icmp ? t.icmpCode : t.dstPort) ?? 0;
    this.hasPorts[i] = (icmp ? t.icmpType : t.srcPort) !== undefined ? 1 : 0;
    this.ctId[i] = p.conntrack_id ?? -1;
    const c = p.counters;
    if (c) {
      f |= F_COUNTERS;
      const o = i * 5;
      this.counts[o] = c.packets;
      this.counts[o + 1] = c.bytes;
      this.counts[o + 2] = c.reply_packets;
      this.counts[o + 3] = c.reply_bytes;
      this.counts[o + 4] = c.duration_seconds ?? NaN;
    }
    this.flags[i] = f;
    this.identity[i] = p.identity;
    this.node[i] = p.node;
    let rule = p.kernel_rule;
    if (rule !== undefined) {
      const known = this.rules.get(rule);
      if (known !== undefined) rule = known;
      else if (this.rules.size < 4096) this.rules.set(rule, rule);
    }
    this.rule[i] = rule;
    return id;
  }

  /** Id of the newest record (0: none yet). */
  get lastId(): number {
    return this.next - 1;
  }

  get length(): number {
    return Math.min(this.lastId, this.size);
  }

  /** The record with this id, made whole (undefined once overwritten or not yet written). */
  get(id: number): FlowRecord | undefined {
    if (id < 1 || id >= this.next || id <= this.next - 1 - this.size) return undefined;
    const i = id % this.size;
    const f = this.flags[i]!;
    const proto = this.proto[i]!;
    const icmp = proto === 1 || proto === 58;
    const has = this.hasPorts[i] === 1;
    const parts: FlowParts = {
      timeMs: this.timeMs[i]!,
      node: this.node[i]!,
      event: EVENTS[f & 3]!,
      verdict: f & F_DROPPED ? 'DROPPED' : 'FORWARDED',
      traffic_direction: f & F_INGRESS ? 'INGRESS' : 'EGRESS',
      identity: this.identity[i]!,
      tuple: {
        family: f & F_V6 ? 6 : 4,
        src: '',
        dst: '',
        proto,
        ...(has ? (icmp ? { icmpType: this.a[i]!, icmpCode: this.b[i]! } : { srcPort: this.a[i]!, dstPort: this.b[i]! }) : {}),
      },
    };
    const dr = DROP_REASONS[(f >> 4) & 3];
    if (dr) parts.drop_reason = dr;
    const rule = this.rule[i];
    if (rule !== undefined) parts.kernel_rule = rule;
    if (this.ctId[i]! >= 0) parts.conntrack_id = this.ctId[i]!;
    if (f & F_COUNTERS) {
      const o = i * 5;
      const d = this.counts[o + 4]!;
      parts.counters = { packets: this.counts[o]!, bytes: this.counts[o + 1]!, reply_packets: this.counts[o + 2]!, reply_bytes: this.counts[o + 3]!, ...(Number.isNaN(d) ? {} : { duration_seconds: d }) };
    }
    return recordOf(parts, id);
  }

  /** Records with id > `after`, oldest first, and how many of those were already overwritten. */
  since(after: number): { records: FlowRecord[]; missed: number } {
    const oldest = Math.max(1, this.next - this.size);
    const from = Math.max(after + 1, oldest);
    const records: FlowRecord[] = [];
    for (let id = from; id < this.next; id++) records.push(this.get(id)!);
    return { records, missed: Math.max(0, oldest - (after + 1)) };
  }
}

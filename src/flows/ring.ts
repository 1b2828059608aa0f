// A bounded ring of flow records. When full, the oldest record is overwritten and counted: a
// reader whose cursor fell behind learns how many records it missed, never silently.
// Records are kept as their JSON text: one string per record instead of a dozen small objects
// (labels, policies, ports…) makes a full default ring several times smaller, and readers send
// JSON anyway.
import type { FlowRecord } from './record.js';

export class FlowRing {
  private readonly buf: (string | undefined)[];
  private next = 1;
  /** Records overwritten before anyone could be sure to read them. */
  overwritten = 0;

  constructor(readonly size: number) {
    this.buf = new Array<string | undefined>(size);
  }

  push(r: Omit<FlowRecord, 'id'>): FlowRecord {
    const rec = r as FlowRecord;
    rec.id = this.next++;
    const i = rec.id % this.size;
    if (this.buf[i]) this.overwritten++;
    this.buf[i] = JSON.stringify(rec);
    return rec;
  }

  /** Id of the newest record (0: none yet). */
  get lastId(): number {
    return this.next - 1;
  }

  get length(): number {
    return Math.min(this.lastId, this.size);
  }

  /** Records with id > `after`, oldest first, and how many of those were already overwritten. */
  since(after: number): { records: FlowRecord[]; missed: number } {
    const oldest = Math.max(1, this.next - this.size);
    const from = Math.max(after + 1, oldest);
    const records: FlowRecord[] = [];
    for (let id = from; id < this.next; id++) records.push(JSON.parse(this.buf[id % this.size]!) as FlowRecord);
    return { records, missed: Math.max(0, oldest - (after + 1)) };
  }
}

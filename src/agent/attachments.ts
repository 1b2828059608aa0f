// Completed attachments, one JSON file each, written atomically (tmp + rename) as the last step
// of ADD: a record here means "this pod interface exists and owns these addresses".
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TwillError, describeError, errnoCode } from '../util/errors.js';
import type { Owner } from '../ipam/local/index.js';
import { quarantineFile, stateDirOf, type Quarantined } from '../util/quarantine.js';
import { readdirSync } from 'node:fs';
import { quarantineDamaged, readState, type AuditFinding } from './state-audit.js';

export interface Attachment {
  containerId: string;
  ifname: string;
  netns: string;
  /** CNI network name (GC is per network). */
  network: string;
  ips: string[];
  mtu: number;
  hostIface: string;
  /** K8S_POD_NAMESPACE / K8S_POD_NAME from CNI_ARGS, when the runtime sent them. */
  pod?: { namespace: string; name: string; uid?: string } | undefined;
  createdAt: string;
  /**
   * Set when this record was rebuilt from the kernel and the IPAM record because the original was
   * unreadable: why. netns and network may then be empty (unknown).
   */
  recovered?: string;
}

/** An attachment file that could not be read or trusted, moved aside at start-up. */
export interface BadAttachment extends Quarantined {
  /** The owner its file name says (containerId_ifname.json), when the name parses. */
  owner?: Owner;
  reason: string;
}

/** The fields every record must have; anything else is a record we cannot trust. */
function parseAttachment(text: string): Attachment {
  const a = JSON.parse(text) as Partial<Attachment> | null;
  const str = (v: unknown): v is string => typeof v === 'string';
  if (a === null || typeof a !== 'object') throw new Error('not a JSON object');
  const missing = (['containerId', 'ifname', 'netns', 'hostIface'] as const).filter((k) => !str(a[k]) || (a[k] === '' && k !== 'netns'));
  if (missing.length) throw new Error(`missing or invalid ${missing.join(', ')}`);
  if (!Array.isArray(a.ips) || a.ips.length === 0 || !a.ips.every(str)) throw new Error('missing or invalid ips');
  return a as Attachment;
}

/** `<containerId>_<ifname>.json` → owner (the interface name never holds `_` here: eth0, net1…). */
export function ownerFromFileName(name: string): Owner | undefined {
  const m = /^(.+)_([^_]+)\.json$/.exec(name);
  return m ? { containerId: m[1]!, ifname: m[2]! } : undefined;
}

function fileName(o: Owner): string {
  return `${o.containerId}_${o.ifname}.json`;
}

export class AttachmentStore {
  private readonly byKey = new Map<string, Attachment>();

  constructor(readonly dir: string) {}

  static key(o: Owner): string {
    return `${o.containerId}/${o.ifname}`;
  }

  /**
   * Loads every record. One that cannot be read or parsed (a disk error, a bad sector, a hand
   * edit) is moved to quarantine and returned: the caller must treat that pod as possibly alive.
   */
  async init(): Promise<BadAttachment[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const bad: BadAttachment[] = [];
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const file = join(this.dir, name);
      try {
        const a = parseAttachment(await readFile(file, 'utf8'));
        if (fileName(a) !== name) throw new Error(`it describes ${AttachmentStore.key(a)}, not the owner its name says`);
        this.byKey.set(AttachmentStore.key(a), a);
      } catch (e) {
        const owner = ownerFromFileName(name);
        bad.push({ ...quarantineFile(file, stateDirOf(this.dir), 'attachment'), ...(owner ? { owner } : {}), reason: describeError(e) });
      }
    }
    return bad;
  }

  get(o: Owner): Attachment | undefined {
    return this.byKey.get(AttachmentStore.key(o));
  }

  all(): Attachment[] {
    return [...this.byKey.values()];
  }

  /** Atomic (tmp + rename); synchronous for the same reason as the IPAM records. */
  save(a: Attachment): void {
    const file = join(this.dir, fileName(a));
    const tmp = `${file}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, JSON.stringify(a, null, 1) + '\n', { mode: 0o600 });
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true }); // a partial tmp file (disk full) would only waste the space left
      throw new TwillError('IO', `cannot write the attachment record ${file}: ${describeError(e)}`, { cause: e });
    }
    this.byKey.set(AttachmentStore.key(a), a);
  }

  remove(o: Owner): boolean {
    const had = this.byKey.delete(AttachmentStore.key(o));
    const file = join(this.dir, fileName(o));
    try {
      rmSync(file);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return had;
      // Something that is no file (damaged: a directory of that name) must not make DEL fail
      // forever: moved aside for inspection, like every damaged record.
      if (quarantineFile(file, stateDirOf(this.dir), 'attachment').movedTo === undefined) throw e;
    }
    return had;
  }

  /**
   * Compares every record on disk with the one held in memory (synchronous, so no ADD or DEL
   * interleaves): a damaged record is quarantined and rewritten; a file the agent holds no
   * attachment for is quarantined (it would be trusted at the next start).
   */
  audit(): AuditFinding[] {
    const out: AuditFinding[] = [];
    const stateDir = stateDirOf(this.dir);
    for (const a of this.byKey.values()) {
      const file = join(this.dir, fileName(a));
      const { text, error } = readState(file);
      const want = JSON.stringify(a, null, 1) + '\n';
      if (text === want) continue;
      let damage = error ?? (text === undefined ? 'missing' : 'content differs');
      if (text !== undefined && !error) {
        try {
          const got = parseAttachment(text);
          if (JSON.stringify(got) === JSON.stringify(a)) continue; // same record, other layout
        } catch (e) {
          damage = `unparsable: ${describeError(e)}`;
        }
      }
      const quarantinedTo = quarantineDamaged(file, stateDir, 'attachment', text !== undefined || error !== undefined);
      this.save(a);
      out.push({ kind: 'attachment', file, damage, repair: 'quarantined it and rewrote it from the agent\'s memory (the pod keeps its interface and address)', quarantinedTo });
    }
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const owner = ownerFromFileName(name);
      if (owner && this.byKey.has(AttachmentStore.key(owner))) continue;
      const file = join(this.dir, name);
      const quarantinedTo = quarantineDamaged(file, stateDir, 'attachment', true);
      out.push({ kind: 'attachment', file, damage: 'a record of no attachment this agent holds', repair: 'quarantined it (it would be trusted at the next start)', quarantinedTo });
    }
    return out;
  }
}

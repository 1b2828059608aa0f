// Completed attachments, one JSON file each, written atomically (tmp + rename) as the last step
// of ADD: a record here means "this pod interface exists and owns these addresses".
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../util/errors.js';
import type { Owner } from '../ipam/local/index.js';

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

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        const a = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as Attachment;
        this.byKey.set(AttachmentStore.key(a), a);
      } catch {
        // A torn write cannot happen (rename is atomic); a hand-edited file is ignored.
      }
    }
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
    writeFileSync(tmp, JSON.stringify(a, null, 1) + '\n', { mode: 0o600 });
    renameSync(tmp, file);
    this.byKey.set(AttachmentStore.key(a), a);
  }

  remove(o: Owner): boolean {
    const had = this.byKey.delete(AttachmentStore.key(o));
    try {
      rmSync(join(this.dir, fileName(o)));
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw e;
    }
    return had;
  }
}

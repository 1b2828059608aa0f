// On-disk address records: one file per allocated address, named by the address, created with
// O_EXCL so two allocators can never both own an address (host-local's idea). Writing a record is
// the commit point of an allocation; deleting it is the release.
import { closeSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, errnoCode, TwillError } from '../../util/errors.js';
import { isIp } from '../../util/ip.js';

export interface AddressRecord {
  ip: string;
  containerId: string;
  ifname: string;
  /** ISO time of allocation. */
  allocatedAt: string;
  /** Set (in memory only) when the file could not be read or parsed: why. */
  unreadable?: string;
}

export class RecordDir {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  private path(ip: string): string {
    return join(this.dir, ip);
  }

  /**
   * Creates the record; false if the address is already taken on disk. Synchronous on purpose:
   * it is a few microseconds of work on the ADD path, less than one trip through libuv's
   * threadpool costs on a busy node.
   */
  create(rec: AddressRecord): boolean {
    let fd: number;
    try {
      fd = openSync(this.path(rec.ip), 'wx', 0o600);
    } catch (e) {
      if (errnoCode(e) === 'EEXIST') return false;
      throw new TwillError('IO', `cannot write address record for ${rec.ip} in ${this.dir}`, { cause: e });
    }
    try {
      writeSync(fd, JSON.stringify(rec) + '\n');
    } catch (e) {
      // Disk full after the create: the empty file would reserve the address with no owner.
      closeSync(fd);
      rmSync(this.path(rec.ip), { force: true });
      throw new TwillError('IO', `cannot write address record for ${rec.ip} in ${this.dir}: ${describeError(e)}`, { cause: e });
    }
    closeSync(fd);
    return true;
  }

  /** Overwrites the record (repair from a trusted source); atomic (tmp + rename). */
  rewrite(rec: AddressRecord): void {
    const file = this.path(rec.ip);
    const tmp = `${file}.tmp-${process.pid}`;
    try {
      // Whatever is in the way (an unreadable record, even a directory of that name) is replaced.
      rmSync(file, { force: true, recursive: true });
      writeFileSync(tmp, JSON.stringify(rec) + '\n', { mode: 0o600 });
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new TwillError('IO', `cannot rewrite address record for ${rec.ip} in ${this.dir}`, { cause: e });
    }
  }

  remove(ip: string): void {
    // recursive: an unreadable "record" that is a directory must not make release fail forever.
    rmSync(this.path(ip), { force: true, recursive: true });
  }

  /**
   * Why the record of `rec.ip` on disk no longer says what `rec` says (undefined: it does).
   * Synchronous: called under the allocator's mutex by the state audit.
   */
  damage(rec: AddressRecord): string | undefined {
    let text: string;
    try {
      text = readFileSync(this.path(rec.ip), 'utf8');
    } catch (e) {
      return errnoCode(e) === 'ENOENT' ? 'missing' : `unreadable: ${describeError(e)}`;
    }
    try {
      const got = JSON.parse(text) as Partial<AddressRecord> | null;
      if (!got || got.containerId !== rec.containerId || got.ifname !== rec.ifname) return `names ${got?.containerId ?? '?'}/${got?.ifname ?? '?'}, not ${rec.containerId}/${rec.ifname}`;
      return undefined;
    } catch (e) {
      return `unparsable: ${describeError(e)}`;
    }
  }

  /** Addresses with a file on disk (synchronous, for the state audit). */
  namesOnDisk(): string[] {
    return readdirSync(this.dir).filter((n) => isIp(n));
  }

  /** Every record on disk. A torn record (crash mid-write) still reserves its address. */
  async loadAll(): Promise<AddressRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return [];
      throw e;
    }
    const out: AddressRecord[] = [];
    for (const name of names) {
      if (!isIp(name)) continue;
      let rec: AddressRecord;
      try {
        rec = JSON.parse(await readFile(this.path(name), 'utf8')) as AddressRecord;
        if (typeof rec !== 'object' || rec === null || typeof rec.containerId !== 'string' || typeof rec.ifname !== 'string') throw new Error('not an address record');
        rec.ip = name;
      } catch (e) {
        // The file name is the address, so the address stays reserved; who owns it is unknown
        // (the caller decides, from the attachments and the kernel, whether anyone does).
        rec = { ip: name, containerId: '', ifname: '', allocatedAt: '', unreadable: describeError(e) };
      }
      out.push(rec);
    }
    return out;
  }
}

// On-disk address records: one file per allocated address, named by the address, created with
// O_EXCL so two allocators can never both own an address (host-local's idea). Writing a record is
// the commit point of an allocation; deleting it is the release.
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, TwillError } from '../../util/errors.js';
import { isIp } from '../../util/ip.js';

export interface AddressRecord {
  ip: string;
  containerId: string;
  ifname: string;
  /** ISO time of allocation. */
  allocatedAt: string;
}

export class RecordDir {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  private path(ip: string): string {
    return join(this.dir, ip);
  }

  /** Creates the record; false if the address is already taken on disk. */
  async create(rec: AddressRecord): Promise<boolean> {
    let fh;
    try {
      fh = await open(this.path(rec.ip), 'wx', 0o600);
    } catch (e) {
      if (errnoCode(e) === 'EEXIST') return false;
      throw new TwillError('IO', `cannot write address record for ${rec.ip} in ${this.dir}`, { cause: e });
    }
    try {
      await fh.writeFile(JSON.stringify(rec) + '\n');
    } finally {
      await fh.close();
    }
    return true;
  }

  async remove(ip: string): Promise<void> {
    await rm(this.path(ip), { force: true });
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
        rec.ip = name;
      } catch {
        rec = { ip: name, containerId: '', ifname: '', allocatedAt: '' };
      }
      out.push(rec);
    }
    return out;
  }
}

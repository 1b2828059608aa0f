// The last accepted version of every NetworkPolicy, kept on disk. A rejected update leaves the
// accepted version in force; with the etcd datastore no API server refuses the update, so the
// store may hold only the bad version, and an agent that forgot the good one on restart would
// drop the policy and open what it closed. Loaded entries are validated again.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { NetworkPolicy } from '../model/types.js';
import { validateNetworkPolicy } from '../policy/index.js';
import { describeError, errnoCode } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { quarantineFile } from '../util/quarantine.js';
import type { Problems } from './problems.js';
import { quarantineDamaged, readState, type AuditFinding } from './state-audit.js';

export class AcceptedPolicies {
  private readonly byKey = new Map<string, NetworkPolicy>();
  private saved = '';

  /** Without a file the record lives in memory only. */
  constructor(
    private readonly file: string | undefined,
    private readonly log: Logger,
    private readonly problems?: Problems,
    /** The state directory (for the quarantine). */
    private readonly stateDir?: string,
  ) {}

  /**
   * An unreadable file is moved aside (not overwritten by the next save) and kept as a problem:
   * a policy whose only valid version was in it may now be dropped, and the operator must know.
   */
  private unusable(file: string, why: string, e: unknown): void {
    const q = this.stateDir ? quarantineFile(file, this.stateDir, 'policy') : { file };
    const details = { error: describeError(e), ...q };
    if (this.problems) this.problems.report('policy-cache', 'error', `the accepted policy versions are ${why}; starting without them (a policy whose stored version is invalid is not enforced until it is fixed)`, details);
    else this.log.error(`the accepted policy versions are ${why}; starting without them`, details);
  }

  async load(): Promise<void> {
    if (!this.file) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') this.unusable(this.file, 'unreadable', e);
      return;
    }
    try {
      const all = JSON.parse(text) as Record<string, NetworkPolicy> | null;
      if (all === null || typeof all !== 'object' || Array.isArray(all)) throw new Error('not a JSON object');
      for (const [key, p] of Object.entries(all)) {
        if (validateNetworkPolicy(p).length === 0) this.byKey.set(key, p);
      }
      this.saved = text;
    } catch (e) {
      this.unusable(this.file, 'not valid JSON', e);
    }
  }

  get(key: string): NetworkPolicy | undefined {
    return this.byKey.get(key);
  }

  set(key: string, p: NetworkPolicy): void {
    this.byKey.set(key, p);
  }

  /** Forgets every policy not in `live` (deleted from the datastore). */
  retain(live: Set<string>): void {
    for (const key of [...this.byKey.keys()]) if (!live.has(key)) this.byKey.delete(key);
  }

  /** Writes the record if it changed (atomically: tmp + rename). */
  async save(): Promise<void> {
    if (!this.file) return;
    const text = JSON.stringify(Object.fromEntries([...this.byKey].sort(([a], [b]) => (a < b ? -1 : 1)))) + '\n';
    if (text === this.saved) return;
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    this.saving++;
    try {
      await writeFile(`${this.file}.tmp`, text, { mode: 0o600 });
      await rename(`${this.file}.tmp`, this.file);
      this.saved = text;
    } finally {
      this.saving--;
    }
  }

  private saving = 0;

  /**
   * The state audit: the file must hold what was last saved. Otherwise (damaged while the agent
   * ran) it is quarantined and written again, so a restart still knows the accepted versions.
   */
  async audit(): Promise<AuditFinding[]> {
    if (!this.file || this.saved === '' || this.saving > 0) return [];
    const { text, error } = readState(this.file);
    if (text === this.saved) return [];
    const damage = error ?? (text === undefined ? 'missing' : 'content differs from what the agent saved');
    const quarantinedTo = this.stateDir ? quarantineDamaged(this.file, this.stateDir, 'policy', text !== undefined || error !== undefined) : undefined;
    const saved = this.saved;
    this.saved = '';
    await this.save();
    if (this.saved === '') this.saved = saved;
    return [{ kind: 'policy-cache', file: this.file, damage, repair: 'quarantined it and wrote the accepted policy versions again from the agent\'s memory', quarantinedTo }];
  }
}

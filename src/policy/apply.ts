// The policy dataplane: holds the model it last applied and moves the kernel to a new one with
// one nft transaction, either the incremental diff or, the first time / after any failure / on
// request, a full replacement of the table. nft transactions are atomic: when nft refuses a
// script the previous ruleset stays in force, and the next apply replaces the whole table.
import { applyNft, nftListJson } from '../dataplane/kernel/nft.js';
import { nftScriptPath } from '../dataplane/kernel/names.js';
import { TwillError } from '../util/errors.js';
import { diffModels } from './diff.js';
import { policyCounters, type CounterReport } from './explain.js';
import type { PolicyModel } from './model.js';
import { renderFullReplace } from './render.js';

/** How scripts reach the kernel; replaced in unit tests. */
export interface NftRunner {
  apply(script: string, file: string): Promise<void>;
  /** `nft -j list table inet NAME`, parsed; undefined when the table does not exist. */
  listTable(table: string): Promise<unknown>;
}

export interface PolicyDataplaneOptions {
  /** The script is kept at `<runDir>/nft/<table>.nft` (the exact text nft was given). */
  runDir: string;
  /** Program the table inside this network namespace instead of the caller's (tests, lab). */
  netnsPath?: string;
  nft?: NftRunner;
}

export interface ApplyResult {
  mode: 'full' | 'incremental' | 'unchanged';
  /** Objects, elements and chains touched (1 for a full replacement). */
  changes: number;
  /** Size of the script given to nft. */
  bytes: number;
}

function kernelRunner(netnsPath: string | undefined): NftRunner {
  const ns = netnsPath ? { netnsPath } : {};
  return {
    apply: (script, file) => applyNft(script, { file, ...ns }),
    listTable: (table) => nftListJson(['table', 'inet', table], ns),
  };
}

export class PolicyDataplane {
  private last: PolicyModel | undefined;
  private readonly nft: NftRunner;

  constructor(private readonly opts: PolicyDataplaneOptions) {
    this.nft = opts.nft ?? kernelRunner(opts.netnsPath);
  }

  /** The model the kernel holds, as far as this dataplane knows (undefined: unknown). */
  get applied(): PolicyModel | undefined {
    return this.last;
  }

  /** Forgets the applied model: the next apply replaces the whole table. */
  forget(): void {
    this.last = undefined;
  }

  async apply(model: PolicyModel, opts: { full?: boolean } = {}): Promise<ApplyResult> {
    const prev = opts.full ? undefined : this.last;
    if (prev && prev.table !== model.table) throw new TwillError('INTERNAL', `one PolicyDataplane manages one table (${prev.table}, not ${model.table})`);
    const diff = prev ? diffModels(prev, model) : undefined;
    if (diff && diff.script === '') return { mode: 'unchanged', changes: 0, bytes: 0 };
    const full = !diff || diff.full;
    const script = diff ? diff.script : renderFullReplace(model);
    const file = nftScriptPath(this.opts.runDir, model.table);
    // Until nft answers, the kernel may hold either version: if this throws, start over in full.
    this.last = undefined;
    try {
      await this.nft.apply(script, file);
    } catch (e) {
      const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      throw new TwillError('KERNEL', `nft refused the ${full ? 'full' : 'incremental'} update of table inet ${model.table} (${why}); the previous ruleset is still in force and the next apply replaces the whole table`, {
        cause: e,
        details: `the refused script is kept at ${file}`,
      });
    }
    this.last = model;
    return { mode: full ? 'full' : 'incremental', changes: diff ? diff.changes : 1, bytes: Buffer.byteLength(script) };
  }

  /** Per-policy packet counts, read from the kernel and named with the last applied model. */
  async counters(): Promise<CounterReport> {
    if (!this.last) throw new TwillError('NOT_FOUND', 'no policy ruleset has been applied yet, so there are no counters to read');
    return policyCounters(await this.nft.listTable(this.last.table), this.last.info);
  }

  /** Deletes the table (harmless when it is absent). */
  async remove(table: string): Promise<void> {
    this.last = undefined;
    await this.nft.apply(`add table inet ${table}\ndelete table inet ${table}\n`, nftScriptPath(this.opts.runDir, table));
  }
}

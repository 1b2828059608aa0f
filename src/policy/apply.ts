// The policy dataplane: holds the model it last applied and moves the kernel to a new one with
// one transaction, either the incremental diff or, the first time / after any failure / on
// request, a full replacement of the table. Incremental transactions of the shapes the compiler
// emits go to the kernel as one nf_tables netlink batch (policy/netlink.ts); the rest, and every
// full replacement, through `nft -f`. Both are atomic: when the kernel refuses a transaction the
// previous ruleset stays in force, and the next apply replaces the whole table.
import { NFPROTO_INET } from '../dataplane/kernel/nfnetlink.js';
import { NfTablesSocket, NftBatchError } from '../dataplane/kernel/nfnetlink-socket.js';
import { applyNft, nftListJson, writeNftScript } from '../dataplane/kernel/nft.js';
import { describeError } from '../util/errors.js';
import { nftScriptPath } from '../dataplane/kernel/names.js';
import { TwillError } from '../util/errors.js';
import { diffModels } from './diff.js';
import { encodeDiff, endpointKey } from './netlink.js';
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
  /**
   * Send incremental transactions as nf_tables netlink batches when their shapes allow (default:
   * on, unless `nft` is replaced; TWILL_POLICY_NETLINK=0 turns it off).
   */
  netlink?: boolean;
}

export interface ApplyResult {
  mode: 'full' | 'incremental' | 'unchanged';
  /** Objects, elements and chains touched (1 for a full replacement). */
  changes: number;
  /** Size of the transaction's nft text. */
  bytes: number;
  /** How it reached the kernel (absent when nothing was sent). */
  via?: 'nft' | 'netlink';
  /** Why an incremental update went through nft although netlink batches are on. */
  fallback?: string;
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
  private sock: NfTablesSocket | undefined;
  /** Why incremental updates do not use netlink (undefined: they do, or have not been tried). */
  private noNetlink: string | undefined;

  constructor(private readonly opts: PolicyDataplaneOptions) {
    this.nft = opts.nft ?? kernelRunner(opts.netnsPath);
    const off = opts.netlink === false || (opts.netlink === undefined && opts.nft !== undefined) || process.env['TWILL_POLICY_NETLINK'] === '0';
    if (off) this.noNetlink = opts.netlink === false || opts.nft ? 'turned off' : 'TWILL_POLICY_NETLINK=0';
  }

  /** How incremental updates reach the kernel (for logs and `twill status`). */
  get method(): string {
    return this.noNetlink ? `nft -f (${this.noNetlink})` : 'netlink batch (nft -f for full replacements)';
  }

  private socket(): NfTablesSocket | undefined {
    if (this.sock || this.noNetlink) return this.sock;
    try {
      this.sock = NfTablesSocket.open(this.opts.netnsPath);
      if (!this.sock) this.noNetlink = 'cannot enter the network namespace in-process';
    } catch (e) {
      this.noNetlink = `no nf_tables netlink socket: ${describeError(e)}`;
    }
    return this.sock;
  }

  /** Closes the netlink socket (the dataplane can still apply: it reopens it). */
  close(): void {
    this.sock?.close();
    this.sock = undefined;
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
    const sock = !full ? this.socket() : undefined;
    const encoded = sock && diff ? encodeDiff(model.table, diff.ops) : undefined;
    const batch = encoded && 'batch' in encoded ? encoded.batch : undefined;
    // Until the kernel answers, it may hold either version: if this throws, start over in full.
    this.last = undefined;
    try {
      if (sock && batch) {
        // The file is the same transaction as nft text: what to read, or replay with `nft -f`.
        writeNftScript(file, `# sent to the kernel as one nf_tables netlink batch of the same steps\n${script}`);
        await sock.commit(batch);
      } else await this.nft.apply(script, file);
    } catch (e) {
      const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      // A refusal (nft's, or the kernel's answer to a batch) leaves the old ruleset; a batch the
      // kernel never answered may or may not have been committed.
      const what = !batch ? 'nft refused' : e instanceof NftBatchError ? 'the kernel refused' : 'the kernel did not confirm';
      const state = !batch || e instanceof NftBatchError ? 'the previous ruleset is still in force' : 'the table holds the old or the new ruleset';
      throw new TwillError('KERNEL', `${what} the ${full ? 'full' : 'incremental'} update of table inet ${model.table} (${why}); ${state} and the next apply replaces the whole table`, {
        cause: e,
        details: `the refused transaction is kept at ${file}`,
      });
    }
    this.last = model;
    const fallback = encoded && 'unsupported' in encoded ? { fallback: encoded.unsupported } : {};
    return { mode: full ? 'full' : 'incremental', changes: diff ? diff.changes : 1, bytes: Buffer.byteLength(script), via: batch ? 'netlink' : 'nft', ...fallback };
  }

  /** Per-policy packet counts, read from the kernel and named with the last applied model. */
  async counters(): Promise<CounterReport> {
    if (!this.last) throw new TwillError('NOT_FOUND', 'no policy ruleset has been applied yet, so there are no counters to read');
    return policyCounters(await this.nft.listTable(this.last.table), this.last.info);
  }

  /**
   * Whether the kernel's anti-spoofing set of `table` holds (iface, ip) now: read back from the
   * kernel, so CNI ADD can confirm that a pod's packets will meet its policy before it starts.
   */
  async endpointInKernel(table: string, iface: string, ip: string): Promise<boolean> {
    const set = ip.includes(':') ? 'endpoints6' : 'endpoints';
    // One GETSETELEM for that element over the netlink socket: the same kernel answer as a
    // listing, without a process and a dump of the whole set (bench/policy/confirm.ts).
    const sock = this.opts.nft ? undefined : this.socket();
    if (sock) return sock.hasElement(NFPROTO_INET, table, set, endpointKey(iface, ip));
    const json = this.opts.nft ? await this.nft.listTable(table) : await nftListJson(['set', 'inet', table, set], this.opts.netnsPath ? { netnsPath: this.opts.netnsPath } : {});
    return hasConcatElement(json, set, [iface, ip]);
  }

  /** Deletes the table (harmless when it is absent). */
  async remove(table: string): Promise<void> {
    this.last = undefined;
    await this.nft.apply(`add table inet ${table}\ndelete table inet ${table}\n`, nftScriptPath(this.opts.runDir, table));
  }
}

/** Finds the element `a . b . …` in set `name` of `nft -j list` output. */
export function hasConcatElement(json: unknown, name: string, key: string[]): boolean {
  const items = (json as { nftables?: { set?: { name: string; elem?: unknown[] } }[] } | undefined)?.nftables ?? [];
  for (const it of items) {
    if (it.set?.name !== name) continue;
    for (const e of it.set.elem ?? []) {
      const v = (e as { elem?: { val?: unknown } }).elem?.val ?? e;
      const parts = (v as { concat?: unknown[] }).concat;
      if (Array.isArray(parts) && parts.length === key.length && parts.every((p, i) => p === key[i])) return true;
    }
  }
  return false;
}

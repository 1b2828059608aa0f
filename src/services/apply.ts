// The services dataplane: moves the kernel to the compiler's latest table. The first time (and
// after any failure, or when asked) it replaces the table whole with one `nft -f`; after that it
// applies the compiler's delta — usually a few map elements — as one nf_tables netlink batch sent
// by the agent itself (policy/netlink.ts encodes it), which costs a millisecond where `nft -f`
// would first read the whole table. Steps the netlink encoder does not know (a new chain's rules,
// the pod pool's interval set) go through `nft -f` as one transaction instead. A delta that adds
// a shared draw chain goes in two: `nft -f` creates the chains and their other rules (nothing
// refers to them yet), then one netlink batch adds the draw rules (nft 1.0.6 refuses them on a
// loaded table: netlink.ts) with every element change. Then, for every UDP endpoint that went
// away, its conntrack entries are removed so clients move on.
import { deleteConntrack, type ConntrackFilter } from '../dataplane/kernel/conntrack-delete.js';
import { NFT_TABLE_SERVICES, nftScriptPath } from '../dataplane/kernel/names.js';
import { NFPROTO_INET, type NftBatch } from '../dataplane/kernel/nfnetlink.js';
import { NfTablesSocket } from '../dataplane/kernel/nfnetlink-socket.js';
import { applyNft, writeNftScript } from '../dataplane/kernel/nft.js';
import { renderOp, type DiffOp } from '../policy/diff.js';
import { encodeDiff } from '../policy/netlink.js';
import { renderFullReplace } from '../policy/render.js';
import { TwillError } from '../util/errors.js';
import type { CompiledServices } from './compiler.js';
import { encodeFirstLoad, planFirstLoad } from './first-load.js';
import { DRAW_RULE, encodeDrawRule } from './netlink.js';
import type { ServicePortPlan } from './resolve.js';
import { staleFlows } from './stale.js';

export interface ServicesDataplaneOptions {
  /** The script is kept at `<runDir>/nft/twill-services.nft`. */
  runDir: string;
  /** Program the table inside this network namespace instead of the caller's (tests). */
  netnsPath?: string;
  /** Send incremental updates with `nft -f` instead of a netlink batch (tests compare both). */
  textOnly?: boolean;
}

export interface ServicesApplyResult {
  mode: 'full' | 'incremental' | 'unchanged';
  /** How the transaction was sent ('nft+netlink': new chains by nft, then their draw rules and the elements as a batch). */
  via?: 'nft' | 'netlink' | 'nft+netlink';
  /** Why a delta was applied as a full replacement instead. */
  fullBecause?: string;
  changes: number;
  bytes: number;
  /** Conntrack entries removed for UDP endpoints that went away. */
  conntrackDeleted: number;
  /** Conntrack removals that failed (the ruleset is applied regardless). */
  conntrackErrors: string[];
}

type Plan = { via: 'nft'; ops: DiffOp[] } | { via: 'netlink'; ops: DiffOp[]; batch: NftBatch } | { via: 'nft+netlink'; ops: DiffOp[]; batch: NftBatch };

export class ServicesDataplane {
  private last: { source: object; generation: number; ports: () => ServicePortPlan[] } | undefined;
  private socket: NfTablesSocket | undefined | null;

  constructor(private readonly opts: ServicesDataplaneOptions) {}

  /** Forgets the applied table: the next apply replaces it whole. */
  forget(): void {
    this.last = undefined;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  async apply(c: CompiledServices, opts: { full?: boolean } = {}): Promise<ServicesApplyResult> {
    const prev = this.last;
    const delta = !opts.full && prev && c.delta && prev.source === c.source && prev.generation === c.delta.from ? c.delta : undefined;
    const file = nftScriptPath(this.opts.runDir, 'twill-services');
    this.last = undefined;
    let result: ServicesApplyResult | undefined;
    let fullBecause: string | undefined;
    if (delta) {
      // Not c.model.table: the model is the whole table, built on first read (70,000 elements at
      // 10,000 Services) — reading it here cost ~30 ms on every endpoint change.
      const t = `inet ${NFT_TABLE_SERVICES}`;
      const script = delta.ops.map((o) => renderOp(t, o)).join('\n') + '\n';
      const plan = delta.ops.length === 0 ? undefined : this.plan(NFT_TABLE_SERVICES, delta.ops);
      if (!plan) result = { mode: 'unchanged', changes: 0, bytes: 0, conntrackDeleted: 0, conntrackErrors: [] };
      else if ('full' in plan) fullBecause = plan.full;
      else {
        const via = await this.sendIncremental(plan, script, file);
        result = { mode: 'incremental', via, changes: delta.changes, bytes: Buffer.byteLength(script), conntrackDeleted: 0, conntrackErrors: [] };
      }
    }
    if (!result && !prev && !fullBecause) result = await this.firstLoad(c, file);
    if (!result) {
      const script = renderFullReplace(c.model);
      await this.nft(script, file, 'full');
      result = { mode: 'full', via: 'nft', changes: 1, bytes: Buffer.byteLength(script), conntrackDeleted: 0, conntrackErrors: [], ...(fullBecause ? { fullBecause } : {}) };
      // Open the netlink socket now (entering a namespace loads the FFI): the first endpoint change should not pay for it.
      this.openSocket();
    }
    this.last = { source: c.source, generation: c.generation, ports: () => c.resolved.ports };
    const stale = delta ? delta.stale : prev ? staleFlows(prev.ports(), c.resolved.ports) : [];
    await this.clearStale(stale, result);
    return result;
  }

  /**
   * The first table into a kernel without one (first-load.ts): the skeleton by `nft -f`, the
   * elements by netlink batches. Undefined (and the caller replaces the table in one `nft -f`)
   * when a table is there already, batches are off, or any step fails.
   */
  private async firstLoad(c: CompiledServices, file: string): Promise<ServicesApplyResult | undefined> {
    if (this.opts.textOnly) return undefined;
    this.openSocket();
    const sock = this.socket;
    // why: an unanswered question about the table is answered the safe way (replace it whole)
    if (!sock || (await sock.hasTable(NFPROTO_INET, NFT_TABLE_SERVICES).catch(() => true))) return undefined;
    const plan = planFirstLoad(c.loadModel);
    // The skeleton's `nft -f` runs (on another core) while the elements are encoded here: ~40 of
    // the ~100 ms encoding takes at 10,000 Services. It is awaited whatever the encoding does, so
    // no later replacement can run while it is still in flight.
    const skeletonIn = this.nft(renderFullReplace(plan.skeleton), file, 'full');
    let batches: ReturnType<typeof encodeFirstLoad>;
    try {
      batches = encodeFirstLoad(NFT_TABLE_SERVICES, plan.transactions);
    } finally {
      await skeletonIn;
    }
    if (!batches) return undefined;
    try {
      for (const b of batches) await sock.commit(b, 20_000);
    } catch {
      // why: the table is there, partly filled: the caller's full replacement sets it right
      return undefined;
    }
    // The file says what the kernel holds, as for every full load (written once the table is in).
    const script = renderFullReplace(c.model);
    writeNftScript(file, script);
    return { mode: 'full', via: 'nft+netlink', changes: 1, bytes: Buffer.byteLength(script), conntrackDeleted: 0, conntrackErrors: [] };
  }

  /** How a delta goes to the kernel, or why it cannot go incrementally. */
  private plan(table: string, ops: DiffOp[]): Plan | { full: string } {
    const isDraw = (o: DiffOp): boolean => o.op === 'addRule' && DRAW_RULE.test(o.rule);
    if (!ops.some(isDraw)) {
      if (this.opts.textOnly) return { via: 'nft', ops };
      this.openSocket();
      const enc = this.socket ? encodeDiff(table, ops, { rule: encodeDrawRule }) : undefined;
      return enc && 'batch' in enc ? { via: 'netlink', ops, batch: enc.batch } : { via: 'nft', ops };
    }
    if (this.opts.textOnly) return { full: 'the delta adds a draw rule, which nft 1.0.6 refuses on a loaded table (services/netlink.ts), and netlink batches are off' };
    this.openSocket();
    if (!this.socket) return { full: 'the delta adds a draw rule, which nft 1.0.6 refuses on a loaded table, and no netlink socket is available' };
    const gone = new Set(ops.flatMap((o) => (o.op === 'deleteChain' ? [o.chain] : [])));
    const drawn = new Set<string>();
    for (const o of ops) {
      if (o.op !== 'addRule') continue;
      if (isDraw(o)) drawn.add(o.chain);
      else if (drawn.has(o.chain)) return { full: `chain ${o.chain} has a rule after its draw rule: split in two transactions it would land before it` };
    }
    const first = (o: DiffOp): boolean => o.op === 'addChain' || o.op === 'addSet' || o.op === 'addCounter' || (o.op === 'addRule' && !isDraw(o)) || (o.op === 'flushChain' && !gone.has(o.chain));
    const enc = encodeDiff(table, ops.filter((o) => !first(o)), { rule: encodeDrawRule });
    if (!('batch' in enc)) return { full: `the delta adds a draw rule and part of it has no netlink form: ${enc.unsupported}` };
    return { via: 'nft+netlink', ops: ops.filter(first), batch: enc.batch };
  }

  private async sendIncremental(plan: Plan, script: string, file: string): Promise<Plan['via']> {
    if (plan.via === 'nft') {
      await this.nft(script, file, 'incremental');
      return 'nft';
    }
    if (plan.via === 'nft+netlink') {
      const t = `inet ${plan.batch.table}`;
      await this.nft(plan.ops.map((o) => renderOp(t, o)).join('\n') + '\n', `${file.replace(/\.nft$/, '')}.chains.nft`, 'incremental');
    }
    writeNftScript(file, script);
    try {
      await this.socket!.commit(plan.batch);
    } catch (e) {
      throw new TwillError('KERNEL', `the kernel refused the incremental update of table inet ${plan.batch.table}; the previous ruleset is still in force and the next apply replaces the whole table`, { cause: e, details: `the refused transaction is kept at ${file} (as nft text)` });
    }
    return plan.via;
  }

  private openSocket(): void {
    if (this.socket === undefined && !this.opts.textOnly) this.socket = NfTablesSocket.open(this.opts.netnsPath) ?? null;
  }

  private async nft(script: string, file: string, kind: string): Promise<void> {
    try {
      await applyNft(script, { file, ...(this.opts.netnsPath ? { netnsPath: this.opts.netnsPath } : {}) });
    } catch (e) {
      throw new TwillError('KERNEL', `nft refused the ${kind} update of table inet twill-services; the previous ruleset is still in force and the next apply replaces the whole table`, { cause: e, details: `the refused transaction is kept at ${file}` });
    }
  }

  private async clearStale(stale: ConntrackFilter[], r: ServicesApplyResult): Promise<void> {
    for (const f of stale) {
      try {
        r.conntrackDeleted += await deleteConntrack(f, this.opts.netnsPath ? { netnsPath: this.opts.netnsPath } : {});
      } catch (e) {
        r.conntrackErrors.push(e instanceof Error ? e.message : String(e));
      }
    }
  }
}

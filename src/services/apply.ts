// The services dataplane: moves the kernel to the compiler's latest table. The first time (and
// after any failure, or when asked) it replaces the table whole with one `nft -f`; after that it
// applies the compiler's delta — usually a few map elements — as one nf_tables netlink batch sent
// by the agent itself (policy/netlink.ts encodes it), which costs a millisecond where `nft -f`
// would first read the whole table. Steps the netlink encoder does not know (a new chain's rules,
// the pod pool's interval set) go through `nft -f` as one transaction instead. Then, for every
// UDP endpoint that went away, its conntrack entries are removed so clients move on.
import { deleteConntrack, type ConntrackFilter } from '../dataplane/kernel/conntrack-delete.js';
import { nftScriptPath } from '../dataplane/kernel/names.js';
import { NfTablesSocket } from '../dataplane/kernel/nfnetlink.js';
import { applyNft, writeNftScript } from '../dataplane/kernel/nft.js';
import { renderOp } from '../policy/diff.js';
import { encodeDiff } from '../policy/netlink.js';
import { renderFullReplace } from '../policy/render.js';
import { TwillError } from '../util/errors.js';
import type { CompiledServices } from './compiler.js';
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
  /** How the transaction was sent. */
  via?: 'nft' | 'netlink';
  changes: number;
  bytes: number;
  /** Conntrack entries removed for UDP endpoints that went away. */
  conntrackDeleted: number;
  /** Conntrack removals that failed (the ruleset is applied regardless). */
  conntrackErrors: string[];
}

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
    let result: ServicesApplyResult;
    if (delta) {
      if (delta.ops.length === 0) result = { mode: 'unchanged', changes: 0, bytes: 0, conntrackDeleted: 0, conntrackErrors: [] };
      else {
        const t = `inet ${c.model.table}`;
        const script = delta.ops.map((o) => renderOp(t, o)).join('\n') + '\n';
        const via = await this.sendIncremental(c.model.table, delta.ops, script, file);
        result = { mode: 'incremental', via, changes: delta.changes, bytes: Buffer.byteLength(script), conntrackDeleted: 0, conntrackErrors: [] };
      }
    } else {
      const script = renderFullReplace(c.model);
      await this.nft(script, file, 'full');
      result = { mode: 'full', via: 'nft', changes: 1, bytes: Buffer.byteLength(script), conntrackDeleted: 0, conntrackErrors: [] };
      // Open the netlink socket now (entering a namespace loads the FFI): the first endpoint change should not pay for it.
      this.openSocket();
    }
    this.last = { source: c.source, generation: c.generation, ports: () => c.resolved.ports };
    const stale = delta ? delta.stale : prev ? staleFlows(prev.ports(), c.resolved.ports) : [];
    await this.clearStale(stale, result);
    return result;
  }

  private async sendIncremental(table: string, ops: Parameters<typeof encodeDiff>[1], script: string, file: string): Promise<'nft' | 'netlink'> {
    const enc = this.opts.textOnly ? undefined : encodeDiff(table, ops);
    if (enc && 'batch' in enc) {
      this.openSocket();
      if (this.socket) {
        writeNftScript(file, script);
        try {
          await this.socket.commit(enc.batch);
        } catch (e) {
          throw new TwillError('KERNEL', `the kernel refused the incremental update of table inet ${table}; the previous ruleset is still in force and the next apply replaces the whole table`, { cause: e, details: `the refused transaction is kept at ${file} (as nft text)` });
        }
        return 'netlink';
      }
    }
    await this.nft(script, file, 'incremental');
    return 'nft';
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

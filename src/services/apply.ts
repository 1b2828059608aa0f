// The services dataplane: holds the table it last applied and moves the kernel to a new one in
// one `nft -f` transaction: a full replacement the first time (and after any failure), otherwise
// the incremental diff (map element adds and deletes, replaced per-Service chains). Then, for
// every UDP endpoint that went away, its conntrack entries are removed so clients move on.
import { deleteConntrack, type ConntrackFilter } from '../dataplane/kernel/conntrack-delete.js';
import { nftScriptPath } from '../dataplane/kernel/names.js';
import { applyNft } from '../dataplane/kernel/nft.js';
import { diffModels } from '../policy/diff.js';
import type { NftTableModel } from '../policy/model.js';
import { renderFullReplace } from '../policy/render.js';
import { TwillError } from '../util/errors.js';
import type { CompiledServices } from './compile.js';
import type { ServicePortPlan } from './resolve.js';

export interface ServicesDataplaneOptions {
  /** The script is kept at `<runDir>/nft/twill-services.nft`. */
  runDir: string;
  /** Program the table inside this network namespace instead of the caller's (tests). */
  netnsPath?: string;
}

export interface ServicesApplyResult {
  mode: 'full' | 'incremental' | 'unchanged';
  changes: number;
  bytes: number;
  /** Conntrack entries removed for UDP endpoints that went away. */
  conntrackDeleted: number;
  /** Conntrack removals that failed (the ruleset is applied regardless). */
  conntrackErrors: string[];
}

/** Flows to clear: UDP (or SCTP) endpoints of a port in `prev` that `next` no longer sends to. */
export function staleFlows(prev: ServicePortPlan[], next: ServicePortPlan[]): ConntrackFilter[] {
  const now = new Map(next.map((p) => [`${p.family}|${p.id}`, p]));
  const out: ConntrackFilter[] = [];
  for (const p of prev) {
    if (p.protocol === 'tcp') continue;
    const n = now.get(`${p.family}|${p.id}`);
    const kept = new Set((n?.endpoints ?? []).map((e) => `${e.ip}/${e.port}`));
    for (const e of p.endpoints) {
      if (kept.has(`${e.ip}/${e.port}`)) continue;
      for (const a of [...(p.clusterIP ? [p.clusterIP] : []), ...p.externalIPs]) out.push({ protocol: p.protocol, origDst: a, origDstPort: p.port, replySrc: e.ip, replySrcPort: e.port });
      if (p.nodePort) out.push({ protocol: p.protocol, origDstPort: p.nodePort, replySrc: e.ip, replySrcPort: e.port });
    }
  }
  return out;
}

export class ServicesDataplane {
  private last: { model: NftTableModel; ports: ServicePortPlan[] } | undefined;

  constructor(private readonly opts: ServicesDataplaneOptions) {}

  /** Forgets the applied table: the next apply replaces it whole. */
  forget(): void {
    this.last = undefined;
  }

  get applied(): ServicePortPlan[] | undefined {
    return this.last?.ports;
  }

  async apply(c: CompiledServices, opts: { full?: boolean } = {}): Promise<ServicesApplyResult> {
    const prev = opts.full ? undefined : this.last;
    const diff = prev ? diffModels(prev.model, c.model) : undefined;
    const stale = this.last ? staleFlows(this.last.ports, c.resolved.ports) : [];
    let mode: ServicesApplyResult['mode'] = 'unchanged';
    let changes = 0;
    let bytes = 0;
    if (!diff || diff.script !== '') {
      const script = diff ? diff.script : renderFullReplace(c.model);
      const file = nftScriptPath(this.opts.runDir, c.model.table);
      this.last = undefined;
      try {
        await applyNft(script, { file, ...(this.opts.netnsPath ? { netnsPath: this.opts.netnsPath } : {}) });
      } catch (e) {
        throw new TwillError('KERNEL', `nft refused the ${diff && !diff.full ? 'incremental' : 'full'} update of table inet ${c.model.table}; the previous ruleset is still in force and the next apply replaces the whole table`, { cause: e, details: `the refused transaction is kept at ${file}` });
      }
      mode = diff && !diff.full ? 'incremental' : 'full';
      changes = diff ? diff.changes : 1;
      bytes = Buffer.byteLength(script);
    }
    this.last = { model: c.model, ports: c.resolved.ports };
    let conntrackDeleted = 0;
    const conntrackErrors: string[] = [];
    for (const f of stale) {
      try {
        conntrackDeleted += await deleteConntrack(f, this.opts.netnsPath ? { netnsPath: this.opts.netnsPath } : {});
      } catch (e) {
        conntrackErrors.push(e instanceof Error ? e.message : String(e));
      }
    }
    return { mode, changes, bytes, conntrackDeleted, conntrackErrors };
  }
}

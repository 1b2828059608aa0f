// Conntrack entry removal with the `conntrack` tool (conntrack-tools). Used when a UDP Service
// endpoint goes away: UDP has no connection to reset, so a client that keeps sending keeps
// matching its old conntrack entry (and the old DNAT) until the entry is removed; after removal
// its next packet is new and meets the current ruleset.
import { CommandError, run, runInNetns } from './exec.js';

export interface ConntrackFilter {
  protocol: 'udp' | 'tcp' | 'sctp';
  /** Original destination address (the Service address the client used). */
  origDst?: string;
  /** Original destination port (the Service port or NodePort). */
  origDstPort?: number;
  /** Reply source: the endpoint the flow was translated to. */
  replySrc: string;
  replySrcPort?: number;
}

/** Deletes matching entries; returns how many were deleted (0 is not an error). */
export async function deleteConntrack(f: ConntrackFilter, opts: { netnsPath?: string } = {}): Promise<number> {
  const args = ['-D', '-p', f.protocol, '--reply-src', f.replySrc];
  if (f.origDst) args.push('--orig-dst', f.origDst);
  if (f.origDstPort !== undefined) args.push('--orig-port-dst', String(f.origDstPort));
  if (f.replySrcPort !== undefined) args.push('--reply-port-src', String(f.replySrcPort));
  if (f.replySrc.includes(':')) args.push('-f', 'ipv6');
  let text: string;
  try {
    const r = await (opts.netnsPath ? runInNetns(opts.netnsPath, 'conntrack', args) : run('conntrack', args));
    text = r.stderr + r.stdout;
  } catch (e) {
    // conntrack exits 1 when nothing matched ("0 flow entries have been deleted").
    if (e instanceof CommandError && /0 flow entries/.test(e.stderr)) return 0;
    throw e;
  }
  const m = /(\d+) flow entries have been deleted/.exec(text);
  return m ? Number(m[1]) : 0;
}

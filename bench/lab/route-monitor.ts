// Watches a namespace's routing table as the kernel changes it: `ip -ts -n NS monitor route`, one
// long-lived process per namespace, every line parsed into (kernel-side timestamp, added or
// deleted, destination). No polling: the timestamp is taken by `ip` when the netlink
// notification arrives.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface RouteEvent {
  netns: string;
  /** Epoch milliseconds (fractional), from the `[YYYY-MM-DDTHH:MM:SS.uuuuuu]` prefix. */
  at: number;
  deleted: boolean;
  dst: string;
  line: string;
}

const LINE = /^\[(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{1,9})\]\s+(Deleted\s+)?(.*)$/;
const PREFIX = /^(?:unicast\s+|blackhole\s+|unreachable\s+|prohibit\s+)?(\S+)/;

/**
 * Parses one `ip -ts monitor route` line. `ip` prints local time without a zone, so the date is
 * read in this process's local time zone (the same clock and zone `ip` used). Pure.
 */
export function parseMonitorLine(line: string, netns = ''): RouteEvent | undefined {
  const m = LINE.exec(line.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, del, rest] = m;
  const base = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)).getTime();
  const at = base + Number(`0.${frac}`) * 1000;
  const dst = PREFIX.exec(rest!)?.[1];
  if (!dst) return undefined;
  // `ip` omits the prefix length of host routes; the rest of Twill names every route with one.
  const full = dst.includes('/') || dst === 'default' ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`;
  return { netns, at, deleted: del !== undefined, dst: full, line: line.trim() };
}

export class RouteMonitor {
  readonly events: RouteEvent[] = [];
  private constructor(private readonly child: ChildProcess) {}

  /** Starts `ip -ts -n NETNS monitor route`; every parsed line is kept in `events`, in order. */
  static start(netns: string): RouteMonitor {
    const child = spawn('ip', ['-ts', '-n', netns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const m = new RouteMonitor(child);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const ev = parseMonitorLine(l, netns);
      if (ev) m.events.push(ev);
    });
    return m;
  }

  /** The first event after `since` (epoch ms) matching `dst` and the kind asked for. */
  first(dst: string, deleted: boolean, since: number): RouteEvent | undefined {
    return this.events.find((e) => e.dst === dst && e.deleted === deleted && e.at >= since);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await gone;
  }
}

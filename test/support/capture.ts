// A packet capture on a lab's underlay bridge (tcpdump writing pcap) and a small pcap reader, so
// tests can say what really crossed the wire between nodes.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { TestScope } from './scope.js';

export interface Frame {
  /** Whole Ethernet frame. */
  bytes: Buffer;
  /** Capture time, ms since the epoch (pcap's microsecond stamp). */
  atMs: number;
  ipv4?: { src: string; dst: string; proto: number; sport?: number; dport?: number };
}

export class Capture {
  private constructor(private readonly child: ChildProcess, readonly file: string) {}

  static async start(scope: TestScope, netns: string, iface: string): Promise<Capture> {
    const dir = await scope.tmpdir('twill-wg-cap-');
    const file = join(dir, 'underlay.pcap');
    const child = scope.spawn('nsenter', [`--net=/run/netns/${netns}`, '--', 'tcpdump', '--immediate-mode', '-i', iface, '-U', '-n', '-s', '0', '-w', file]);
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000);
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.once('exit', (c) => reject(new Error(`tcpdump exited (${c}): ${err}`)));
    });
    return new Capture(child, file);
  }

  async stop(): Promise<Frame[]> {
    if (this.child.exitCode === null) {
      // tcpdump stops reading on SIGINT; with --immediate-mode nothing waits in a ring block, but
    // give it a moment for what is in flight.
      await new Promise((r) => setTimeout(r, 300));
      const done = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGINT');
      await done;
    }
    return parsePcap(await readFile(this.file));
  }
}

const ip4 = (b: Buffer, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

export function parsePcap(buf: Buffer): Frame[] {
  if (buf.length < 24) return [];
  const le = buf.readUInt32LE(0) === 0xa1b2c3d4 || buf.readUInt32LE(0) === 0xa1b23c4d;
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const frames: Frame[] = [];
  let o = 24;
  while (o + 16 <= buf.length) {
    const incl = u32(o + 8);
    const atMs = u32(o) * 1000 + u32(o + 4) / 1000;
    const bytes = buf.subarray(o + 16, o + 16 + incl);
    o += 16 + incl;
    const f: Frame = { bytes, atMs };
    if (bytes.length >= 34 && bytes.readUInt16BE(12) === 0x0800) {
      const ihl = (bytes[14]! & 0x0f) * 4;
      const proto = bytes[23]!;
      const l4 = 14 + ihl;
      f.ipv4 = { src: ip4(bytes, 26), dst: ip4(bytes, 30), proto };
      if ((proto === 6 || proto === 17) && bytes.length >= l4 + 4) {
        f.ipv4.sport = bytes.readUInt16BE(l4);
        f.ipv4.dport = bytes.readUInt16BE(l4 + 2);
      }
    }
    frames.push(f);
  }
  return frames;
}

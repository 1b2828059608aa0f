// What every rtnetlink operation (netlink.ts, netlink-links.ts) shares: the kernel's refusal as a
// KernelError with its errno, request flags, address families and MAC addresses.
import nl from 'netlink';
import { TwillError } from '../../util/errors.js';
import type { Family } from '../../util/ip.js';

const { FlagsNew } = nl;

const AF_INET = 2;
const AF_INET6 = 10;
export const AF_BRIDGE = 7;
export const NLM_F_CREATE = FlagsNew.CREATE;
export const NLM_F_EXCL = FlagsNew.EXCL;
export const NLM_F_REPLACE = FlagsNew.REPLACE;
export const NLM_F_APPEND = FlagsNew.APPEND;

export class KernelError extends TwillError {
  readonly errno: string;
  constructor(op: string, errno: string, cause?: unknown) {
    super('KERNEL', `${op}: ${errno}`, { cause });
    this.errno = errno;
  }
}

export function isErrno(e: unknown, ...errnos: string[]): boolean {
  return e instanceof KernelError && errnos.includes(e.errno);
}

export function macToBuf(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new TwillError('CONFIG_INVALID', `"${mac}" is not a MAC address`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function bufToMac(b: Uint8Array | undefined): string {
  if (!b) return '';
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function famNum(f: Family): number {
  return f === 4 ? AF_INET : AF_INET6;
}

export function errnoOf(e: unknown): string {
  const m = /Request rejected: (\S+)/.exec(e instanceof Error ? e.message : String(e));
  return m?.[1] ?? (e instanceof Error ? e.message : String(e));
}

// libc through koffi (an FFI with prebuilt binaries), for the system calls Node has no API for:
// setns(2) (setns.ts) and the polled netlink socket's calls (nl-poll.ts). Loaded once, on first
// use; a missing native module throws here and each caller says what it falls back to.
import { createRequire } from 'node:module';

export interface Libc {
  /** A function of libc.so.6 by its C declaration. */
  func(sig: string): (...a: never[]) => number;
  /** errno after the last call made through koffi. */
  errno(): number;
}

let libc: Libc | undefined;

export function loadLibc(): Libc {
  if (libc) return libc;
  const koffi = createRequire(import.meta.url)('koffi') as {
    load(lib: string): { func(sig: string): (...a: never[]) => number };
    errno(): number;
  };
  const lib = koffi.load('libc.so.6');
  libc = { func: (sig) => lib.func(sig), errno: () => koffi.errno() };
  return libc;
}

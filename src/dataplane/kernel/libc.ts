// libc through koffi (an FFI with prebuilt binaries), for the system calls Node has no API for:
// setns(2) (setns.ts) and the polled netlink socket's calls (nl-poll.ts). Loaded once, on first
// use; a missing native module throws here and each caller says what it falls back to.
import { createRequire } from 'node:module';

export interface Libc {
  /** A function of libc.so.6 by its C declaration. */
  func(sig: string): (...a: never[]) => number;
  /** errno after the last call made through koffi. */
  errno(): number;
  /**
   * `bytes` of zeroed native memory that never moves (for structures holding pointers, such as
   * recvmmsg's): the pointer to pass to calls, its address, a Buffer over the same memory, and
   * `free` (after which neither may be used).
   */
  nativeMemory(bytes: number): { ptr: unknown; address: bigint; buf: Buffer; free: () => void };
}

let libc: Libc | undefined;

export function loadLibc(): Libc {
  if (libc) return libc;
  const koffi = createRequire(import.meta.url)('koffi') as {
    load(lib: string): { func(sig: string): (...a: never[]) => number };
    errno(): number;
    alloc(type: string, length: number): unknown;
    address(ptr: unknown): bigint;
    view(ptr: unknown, length: number): ArrayBuffer;
    free(ptr: unknown): void;
  };
  const lib = koffi.load('libc.so.6');
  libc = {
    func: (sig) => lib.func(sig),
    errno: () => koffi.errno(),
    nativeMemory: (bytes) => {
      const ptr = koffi.alloc('uint8_t', bytes);
      const buf = Buffer.from(koffi.view(ptr, bytes));
      buf.fill(0);
      return { ptr, address: koffi.address(ptr), buf, free: () => koffi.free(ptr) };
    },
  };
  return libc;
}

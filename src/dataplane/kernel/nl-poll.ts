// A netlink socket read by polling: socket(2), bind(2), setsockopt(2) and recv(2) called through
// koffi (libc.ts, as setns.ts does), the socket non-blocking, drained on a timer. For multicast
// streams of many small datagrams (conntrack events: one per connection start and end) this is
// far cheaper than a readable-callback socket: no wake-up of the event loop per datagram, no
// buffer, address object and JS callback made per datagram. Datagrams are read in batches of up
// to 64 per recvmmsg(2) into a native arena (one FFI call and one system call per batch: a call
// through koffi costs ~1 µs, as much as decoding an event), or one recv each where the arena's
// layout is not known (not a 64-bit little-endian platform).
// The price is up to one polling interval of delay; the receive buffer holds what arrives
// meanwhile (SO_RCVBUFFORCE: the agent has CAP_NET_ADMIN, so net.core.rmem_max does not cap it).
import { describeError, TwillError } from '../../util/errors.js';
import { loadLibc } from './libc.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
const NETLINK_ADD_MEMBERSHIP = 1;
export const EAGAIN = 11;
export const EINTR = 4;
export const ENOBUFS = 105;

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  setsockopt: (fd: number, level: number, name: number, val: Buffer, len: number) => number;
  recv: (fd: number, buf: Buffer, len: number, flags: number) => number;
  recvmmsg: (fd: number, msgvec: unknown, vlen: number, flags: number, timeout: null) => number;
  nativeMemory: (bytes: number) => { ptr: unknown; address: bigint; buf: Buffer; free: () => void };
  close: (fd: number) => number;
  errno: () => number;
}

let libc: Libc | null | undefined;
let unavailable = '';

function load(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== 'linux') {
    unavailable = `netlink is Linux-only (this is ${process.platform})`;
    return null;
  }
  try {
    const c = loadLibc();
    libc = {
      socket: c.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
      bind: c.func('int bind(int fd, const void *addr, uint32_t len)') as Libc['bind'],
      setsockopt: c.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)') as Libc['setsockopt'],
      recv: c.func('intptr_t recv(int fd, void *buf, uintptr_t len, int flags)') as Libc['recv'],
      recvmmsg: c.func('int recvmmsg(int fd, void *msgvec, unsigned int vlen, int flags, void *timeout)') as Libc['recvmmsg'],
      nativeMemory: (bytes) => c.nativeMemory(bytes),
      close: c.func('int close(int fd)') as Libc['close'],
      errno: () => c.errno(),
    };
  } catch (e) {
    unavailable = `koffi could not bind the socket calls: ${describeError(e)}`;
  }
  return libc;
}

/** Whether polled sockets can be made; otherwise why not (the caller falls back and says so). */
export function polledNetlinkSupport(): { ok: true } | { ok: false; why: string } {
  return load() ? { ok: true } : { ok: false, why: unavailable };
}

const int32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};

// recvmmsg's arena: BATCH struct mmsghdr, then BATCH struct iovec, then a SLOT of room for each
// datagram. Offsets are the LP64 Linux ABI's (x86-64 and arm64 alike).
const BATCH = 64;
const SLOT = 8192;
const MMSGHDR = 64; // struct msghdr (56) + msg_len (4) + padding
const MSG_IOV = 16;
const MSG_IOVLEN = 24;
const MSG_FLAGS = 48;
const MSG_LEN = 56;
const IOVEC = 16;
const MSG_TRUNC = 0x20;
const LP64_LE = (process.arch === 'x64' || process.arch === 'arm64') && process.platform === 'linux';

interface Arena {
  ptr: unknown;
  buf: Buffer;
  free?: () => void;
}

export class PolledNetlinkSocket {
  private arena: Arena | undefined;
  private singleLength = 0;

  private constructor(
    private readonly c: Libc,
    private fd: number,
  ) {}

  private makeArena(): Arena {
    const { ptr, address, buf, free } = this.c.nativeMemory(BATCH * (MMSGHDR + IOVEC + SLOT));
    const iovs = BATCH * MMSGHDR;
    const data = iovs + BATCH * IOVEC;
    for (let i = 0; i < BATCH; i++) {
      const h = i * MMSGHDR;
      const v = iovs + i * IOVEC;
      buf.writeBigUInt64LE(address + BigInt(v), h + MSG_IOV);
      buf.writeBigUInt64LE(1n, h + MSG_IOVLEN);
      buf.writeBigUInt64LE(address + BigInt(data + i * SLOT), v);
      buf.writeBigUInt64LE(BigInt(SLOT), v + 8);
    }
    return { ptr, buf, free };
  }

  /**
   * Up to 64 datagrams (one without batching): how many, or -errno (-EAGAIN: nothing queued;
   * -ENOBUFS: the receive buffer overflowed since the last read and datagrams were lost). Datagram
   * i is then `length(i)` bytes of `batchBuffer` from `offset(i)`; `truncated(i)`: it did not fit
   * (at most SLOT bytes are kept) and must be counted as lost.
   */
  recvBatch(): number {
    if (!LP64_LE) {
      const n = this.recv((this.arena ??= { ptr: undefined, buf: Buffer.alloc(65536) }).buf);
      if (n < 0) return n;
      this.singleLength = n;
      return 1;
    }
    const a = (this.arena ??= this.makeArena());
    for (;;) {
      const n = this.c.recvmmsg(this.fd, a.ptr, BATCH, 0, null);
      if (n >= 0) return n === 0 ? -EAGAIN : n;
      const e = this.c.errno();
      if (e !== EINTR) return -e;
    }
  }

  get batchBuffer(): Buffer {
    return this.arena!.buf;
  }

  offset(i: number): number {
    return LP64_LE ? BATCH * (MMSGHDR + IOVEC) + i * SLOT : 0;
  }

  length(i: number): number {
    return LP64_LE ? this.arena!.buf.readUInt32LE(i * MMSGHDR + MSG_LEN) : this.singleLength;
  }

  truncated(i: number): boolean {
    return LP64_LE && (this.arena!.buf.readInt32LE(i * MMSGHDR + MSG_FLAGS) & MSG_TRUNC) !== 0;
  }

  /** A non-blocking socket of `protocol` in the calling thread's namespace, member of `groups`; undefined without koffi. */
  static open(protocol: number, groups: number[], recvBufferSize: number): PolledNetlinkSocket | undefined {
    const c = load();
    if (!c) return undefined;
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) throw new TwillError('KERNEL', `cannot open a netlink socket (protocol ${protocol}): errno ${c.errno()}`);
    const s = new PolledNetlinkSocket(c, fd);
    try {
      const addr = Buffer.alloc(12); // sockaddr_nl: family, pad, pid 0 (the kernel picks), groups 0
      addr.writeUInt16LE(AF_NETLINK, 0);
      s.check(c.bind(fd, addr, addr.length), 'bind');
      // FORCE needs CAP_NET_ADMIN; without it, the plain option (capped by net.core.rmem_max).
      if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, int32(recvBufferSize), 4) !== 0) s.check(c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int32(recvBufferSize), 4), 'setsockopt SO_RCVBUF');
      for (const g of groups) s.check(c.setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, int32(g), 4), `join multicast group ${g}`);
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  private check(rc: number, what: string): void {
    if (rc !== 0) throw new TwillError('KERNEL', `netlink socket: ${what} failed: errno ${this.c.errno()}`);
  }

  /**
   * One datagram into `buf`: its length, or -errno (-EAGAIN: nothing queued; -ENOBUFS: the
   * receive buffer overflowed since the last read and datagrams were lost).
   */
  recv(buf: Buffer): number {
    for (;;) {
      const n = this.c.recv(this.fd, buf, buf.length, 0);
      if (n >= 0) return n;
      const e = this.c.errno();
      if (e !== EINTR) return -e;
    }
  }

  get closed(): boolean {
    return this.fd < 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.c.close(this.fd);
    this.fd = -1;
    this.arena?.free?.();
    this.arena = undefined;
  }
}

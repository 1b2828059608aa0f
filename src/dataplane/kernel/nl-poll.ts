// A netlink socket read by polling: socket(2), bind(2), setsockopt(2) and recv(2) called through
// koffi (libc.ts, as setns.ts does), the socket non-blocking, drained on a timer. For multicast
// streams of many small datagrams (conntrack events: one per connection start and end) this is
// far cheaper than a readable-callback socket: no wake-up of the event loop per datagram, no
// buffer, address object and JS callback made per datagram — one recv into a reused buffer each.
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

export class PolledNetlinkSocket {
  private constructor(
    private readonly c: Libc,
    private fd: number,
  ) {}

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
  }
}

// The rtnetlink socket and the links on it: read, create (veth, VXLAN, bridge), change, delete.
// Netlink (netlink.ts) adds addresses, routes, neighbours and FDB entries to it.
import { openSync, closeSync } from 'node:fs';
import nl from 'netlink';
import type { RtNetlinkSocket } from 'netlink';
import { formatIp, ipFromBytes, ipToBytes, parseIp } from '../../util/ip.js';
import { KernelError, NLM_F_CREATE, NLM_F_EXCL, bufToMac, errnoOf, macToBuf } from './netlink-codec.js';

const { createRtNetlink, rt, ifla, AttrStream } = nl;

const VETH_INFO_PEER = 1;

function flat(sd: unknown): Buffer {
  const a = new AttrStream();
  a.emit(sd as Parameters<typeof a.emit>[0]);
  return Buffer.concat(a.bufs);
}

export interface Link {
  index: number;
  name: string;
  mtu: number;
  up: boolean;
  mac: string;
  /** Link kind from IFLA_INFO_KIND: 'veth', 'vxlan', 'bridge', … (undefined for physical). */
  kind: string | undefined;
  master: number | undefined;
}

export interface VethSpec {
  name: string;
  mtu: number;
  mac?: string;
  /** Bring this end up as it is created (saves a round trip). */
  up?: boolean;
  /** The peer cannot be created up: the kernel opens it before the pair is linked (ENOTCONN). */
  peer: { name: string; netnsPath?: string; mtu: number; mac?: string };
}

export interface VxlanSpec {
  name: string;
  vni: number;
  port: number;
  localIp: string;
  /** Underlay device index the VXLAN socket binds to. */
  parentIndex?: number;
  mtu: number;
  mac?: string;
}

/** The socket and its links; `Netlink` is what the rest of Twill uses. */
export class NetlinkLinks {
  protected readonly sock: RtNetlinkSocket;
  private closed = false;

  constructor() {
    this.sock = createRtNetlink();
  }

  close(): void {
    if (!this.closed) this.sock.socket.socket.close();
    this.closed = true;
  }

  protected async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new KernelError(op, errnoOf(e), e);
    }
  }

  // ---- links ----

  private toLink(m: { data: { index?: number; flags?: { up?: true } }; attrs: object }): Link {
    const a = m.attrs as { ifname?: string; mtu?: number; address?: Buffer; linkinfo?: Buffer; master?: number };
    let kind: string | undefined;
    if (a.linkinfo) {
      try {
        kind = ifla.parseInfo(a.linkinfo).kind;
      } catch {
        // why: decoding for a listing: a link kind Twill cannot parse is none of its kinds
        kind = undefined;
      }
    }
    return {
      index: m.data.index ?? 0,
      name: a.ifname ?? '',
      mtu: a.mtu ?? 0,
      up: m.data.flags?.up === true,
      mac: bufToMac(a.address),
      kind,
      master: a.master,
    };
  }

  async getLink(name: string): Promise<Link | undefined> {
    try {
      const r = await this.sock.getLink({}, { ifname: name });
      return r[0] ? this.toLink(r[0]) : undefined;
    } catch (e) {
      if (errnoOf(e) === 'ENODEV') return undefined;
      throw new KernelError(`get link ${name}`, errnoOf(e), e);
    }
  }

  async mustGetLink(name: string): Promise<Link> {
    const l = await this.getLink(name);
    if (!l) throw new KernelError(`get link ${name}`, 'ENODEV');
    return l;
  }

  async listLinks(): Promise<Link[]> {
    const r = await this.call('list links', () => this.sock.getLinks());
    return r.map((m) => this.toLink(m));
  }

  /** Creates a veth pair; the peer may be created directly inside another namespace. */
  async createVeth(spec: VethSpec): Promise<void> {
    let fd: number | undefined;
    try {
      if (spec.peer.netnsPath) fd = openSync(spec.peer.netnsPath, 'r');
      const peerAttrs: Record<string, unknown> = { ifname: spec.peer.name, mtu: spec.peer.mtu };
      if (fd !== undefined) peerAttrs['netNsFd'] = fd;
      if (spec.peer.mac) peerAttrs['address'] = macToBuf(spec.peer.mac);
      const peer = Buffer.concat([rt.formatLink({}), flat(ifla.formatLinkAttrs(peerAttrs))]);
      const data = flat((out: InstanceType<typeof AttrStream>) => out.push(VETH_INFO_PEER, peer));
      const linkinfo = flat(ifla.formatInfo({ kind: 'veth', data }));
      const attrs: Record<string, unknown> = { ifname: spec.name, mtu: spec.mtu, linkinfo };
      if (spec.mac) attrs['address'] = macToBuf(spec.mac);
      const hdr = spec.up ? { flags: { up: true as const }, change: { up: true as const } } : {};
      await this.call(`create veth ${spec.name}`, () =>
        this.sock.newLink(hdr, attrs, { flags: NLM_F_CREATE | NLM_F_EXCL }),
      );
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  async createVxlan(spec: VxlanSpec): Promise<void> {
    const port = Buffer.alloc(2);
    port.writeUInt16BE(spec.port);
    const local = parseIp(spec.localIp);
    const vx: Record<string, unknown> = { id: spec.vni, port, learning: 0 };
    if (local.family === 4) vx['local'] = ipToBytes(local);
    else vx['local6'] = ipToBytes(local);
    if (spec.parentIndex !== undefined) vx['link'] = spec.parentIndex;
    const linkinfo = flat(ifla.formatInfo({ kind: 'vxlan', data: flat(ifla.formatVxlan(vx)) }));
    const attrs: Record<string, unknown> = { ifname: spec.name, mtu: spec.mtu, linkinfo };
    if (spec.mac) attrs['address'] = macToBuf(spec.mac);
    await this.call(`create vxlan ${spec.name}`, () =>
      this.sock.newLink({}, attrs, { flags: NLM_F_CREATE | NLM_F_EXCL }),
    );
  }

  /** Reads the VXLAN attributes of an existing device (to decide whether it must be recreated). */
  async getVxlan(name: string): Promise<{ vni: number; port: number; localIp: string; parentIndex: number | undefined; learning: boolean } | undefined> {
    let r;
    try {
      r = await this.sock.getLink({}, { ifname: name });
    } catch (e) {
      if (errnoOf(e) === 'ENODEV') return undefined;
      throw new KernelError(`get link ${name}`, errnoOf(e), e);
    }
    const li = (r[0]?.attrs as { linkinfo?: Buffer } | undefined)?.linkinfo;
    if (!li) return undefined;
    const info = ifla.parseInfo(li);
    if (info.kind !== 'vxlan' || !info.data) return undefined;
    const vx = ifla.parseVxlan(info.data);
    const localBuf = vx.local ?? vx.local6;
    return {
      vni: vx.id ?? 0,
      port: vx.port ? vx.port.readUInt16BE(0) : 0,
      localIp: localBuf ? formatIp(ipFromBytes(localBuf)) : '',
      parentIndex: vx.link,
      learning: (vx.learning ?? 0) !== 0,
    };
  }

  async createBridge(name: string, mtu?: number): Promise<void> {
    const linkinfo = flat(ifla.formatInfo({ kind: 'bridge' }));
    const attrs: Record<string, unknown> = { ifname: name, linkinfo };
    if (mtu) attrs['mtu'] = mtu;
    await this.call(`create bridge ${name}`, () => this.sock.newLink({}, attrs, { flags: NLM_F_CREATE | NLM_F_EXCL }));
  }

  /** The index of `dev` (a name, looked up; or an index, used as is). */
  protected async indexOf(dev: string | number): Promise<number> {
    return typeof dev === 'number' ? dev : (await this.mustGetLink(dev)).index;
  }

  /** Changes a link, named or by index (an index saves the lookup). */
  async setLink(
    dev: string | number,
    opts: { up?: boolean; mtu?: number; mac?: string; masterIndex?: number; netnsPath?: string; newName?: string },
  ): Promise<void> {
    const link = { index: await this.indexOf(dev) };
    const name = String(dev);
    const attrs: Record<string, unknown> = {};
    let fd: number | undefined;
    try {
      if (opts.mtu !== undefined) attrs['mtu'] = opts.mtu;
      if (opts.mac !== undefined) attrs['address'] = macToBuf(opts.mac);
      if (opts.masterIndex !== undefined) attrs['master'] = opts.masterIndex;
      if (opts.newName !== undefined) attrs['ifname'] = opts.newName;
      if (opts.netnsPath !== undefined) {
        fd = openSync(opts.netnsPath, 'r');
        attrs['netNsFd'] = fd;
      }
      const data: Record<string, unknown> = { index: link.index };
      if (opts.up !== undefined) {
        data['change'] = { up: true };
        data['flags'] = opts.up ? { up: true } : {};
      }
      await this.call(`set link ${name}`, () => this.sock.setLink(data, attrs));
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** Deletes a link; returns false if it was already gone (DEL is idempotent). */
  async deleteLink(name: string): Promise<boolean> {
    const link = await this.getLink(name);
    if (!link) return false;
    try {
      await this.sock.delLink({ index: link.index });
      return true;
    } catch (e) {
      if (errnoOf(e) === 'ENODEV') return false;
      throw new KernelError(`delete link ${name}`, errnoOf(e), e);
    }
  }
}

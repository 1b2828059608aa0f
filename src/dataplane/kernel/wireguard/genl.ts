// Kernel WireGuard over generic netlink: family lookup (which is also how presence is detected:
// the kernel answers ENOENT for an unknown family, after trying to load the module), device
// creation over rtnetlink (`ip link add … type wireguard`) and SET/GET_DEVICE with genl-codec.ts.
import nl from 'netlink';
import { TwillError, describeError } from '../../../util/errors.js';
import { run } from '../exec.js';
import { decodeGetDevice, encodeGetDevice, encodeSetDevice, WG_CMD_GET_DEVICE, WG_CMD_SET_DEVICE, WG_GENL_NAME, WG_GENL_VERSION } from './genl-codec.js';
import type { WgDeviceChange, WgDeviceHandle, WgDeviceState } from './types.js';

const { createGenericNetlink, genl, FlagsGet } = nl;

type GenlSocket = ReturnType<typeof createGenericNetlink>;

/** The kernel's family id for WireGuard, or undefined when this kernel has no WireGuard. */
export async function kernelWireguardFamily(): Promise<{ id: number; sock: GenlSocket } | { id: undefined; why: string }> {
  const sock = createGenericNetlink();
  try {
    const fams = await sock.ctrlRequest(genl.Commands.GET_FAMILY, { familyName: WG_GENL_NAME });
    const id = fams[0]?.familyId;
    if (id === undefined) throw new Error('no family id in the answer');
    return { id, sock };
  } catch (e) {
    sock.socket.socket.close();
    return { id: undefined, why: `generic netlink family "${WG_GENL_NAME}" is unknown to this kernel (${describeError(e)}): no wireguard module` };
  }
}

export class KernelWgDevice implements WgDeviceHandle {
  readonly implementation = 'kernel' as const;
  constructor(private readonly sock: GenlSocket, private readonly family: number, readonly ifname: string) {}

  static async ensureLink(ifname: string, mtu: number): Promise<void> {
    try {
      await run('ip', ['link', 'add', 'name', ifname, 'mtu', String(mtu), 'type', 'wireguard']);
    } catch (e) {
      if (!/File exists/.test(describeError(e))) throw e;
    }
  }

  async get(): Promise<WgDeviceState> {
    try {
      const [msgs] = await this.sock.request(this.family, WG_CMD_GET_DEVICE, WG_GENL_VERSION, encodeGetDevice(this.ifname), { flags: FlagsGet.DUMP });
      return decodeGetDevice(msgs.map((m) => m.data));
    } catch (e) {
      throw new TwillError('KERNEL', `WireGuard GET_DEVICE ${this.ifname}: ${describeError(e)}`, { cause: e });
    }
  }

  async set(change: WgDeviceChange): Promise<void> {
    try {
      await this.sock.request(this.family, WG_CMD_SET_DEVICE, WG_GENL_VERSION, encodeSetDevice(this.ifname, change));
    } catch (e) {
      throw new TwillError('KERNEL', `WireGuard SET_DEVICE ${this.ifname}: ${describeError(e)}`, { cause: e });
    }
  }

  close(): void {
    this.sock.socket.socket.close();
  }
}

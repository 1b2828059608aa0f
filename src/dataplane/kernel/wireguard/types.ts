// One WireGuard device model for both implementations: kernel (generic netlink) and userspace
// (wireguard-go's UAPI). Keys are base64 here, as in node records; each encoder converts.

export interface WgPeerState {
  publicKey: string;
  endpoint?: string | undefined;
  allowedIPs: string[];
  /** Milliseconds since the epoch; 0 = never. */
  lastHandshakeMs: number;
  rxBytes: number;
  txBytes: number;
  /** Seconds; 0 = off. */
  persistentKeepalive: number;
}

export interface WgDeviceState {
  /** Present when the device has one (never logged or returned by the API). */
  privateKey?: string | undefined;
  listenPort: number;
  fwmark: number;
  peers: WgPeerState[];
}

export type WgPeerChange =
  | { publicKey: string; remove: true }
  | {
      publicKey: string;
      endpoint?: string | undefined;
      /** Replaces the peer's list when present. */
      allowedIPs?: string[] | undefined;
      persistentKeepalive?: number | undefined;
    };

/** What to change on a device: only the fields present are sent. */
export interface WgDeviceChange {
  privateKey?: string | undefined;
  listenPort?: number | undefined;
  fwmark?: number | undefined;
  peers: WgPeerChange[];
}

export type WgImplementation = 'kernel' | 'userspace';

/** A configured device, whichever implementation runs it. */
export interface WgDeviceHandle {
  readonly implementation: WgImplementation;
  get(): Promise<WgDeviceState>;
  set(change: WgDeviceChange): Promise<void>;
}

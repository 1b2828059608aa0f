// Talks UAPI to a running wireguard-go over its unix socket: one request per connection, as
// `wg` does. The socket path is chosen by whoever started the process (userspace.ts).
import { connect } from 'node:net';
import { TwillError } from '../../../util/errors.js';
import { encodeUapiSet, parseUapiGet, UAPI_GET, uapiErrno } from './uapi.js';
import type { WgDeviceChange, WgDeviceHandle, WgDeviceState } from './types.js';

export function uapiExchange(socket: string, request: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new TwillError('TIMEOUT', `WireGuard UAPI socket ${socket}: no answer after ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(request));
    s.on('data', (d: string) => {
      buf += d;
      // An answer ends with errno=N and an empty line.
      if (/(?:^|\n)errno=-?\d+\n\n$/.test(buf)) {
        clearTimeout(timer);
        s.end();
        resolve(buf);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(new TwillError('IO', `WireGuard UAPI socket ${socket}: ${e.message}`, { cause: e }));
    });
    s.on('close', () => {
      clearTimeout(timer);
      if (!/errno=/.test(buf)) reject(new TwillError('IO', `WireGuard UAPI socket ${socket} closed without an answer`));
    });
  });
}

export class UapiDevice implements WgDeviceHandle {
  readonly implementation = 'userspace' as const;
  constructor(readonly socket: string) {}

  async get(): Promise<WgDeviceState> {
    return parseUapiGet(await uapiExchange(this.socket, UAPI_GET));
  }

  async set(change: WgDeviceChange): Promise<void> {
    const errno = uapiErrno(await uapiExchange(this.socket, encodeUapiSet(change)));
    if (errno !== 0) throw new TwillError('KERNEL', `wireguard-go rejected the configuration (UAPI errno ${errno})`);
  }
}

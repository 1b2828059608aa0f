// The contract between the shim (twill-cni) and the agent: HTTP/1.1 over the agent's unix socket.
// POST /v1/cni with a CniRequest; the reply is always HTTP 200 with a CniResponse, so the shim
// never has to interpret HTTP status codes. Errors carry Twill's string codes; the shim maps them
// to CNI numbers (errors.ts).
import type { ErrorCode } from '../util/errors.js';
import type { CniCommand } from './types.js';

export const CNI_API_PATH = '/v1/cni';

export interface CniRequest {
  command: Exclude<CniCommand, 'VERSION'>;
  containerId?: string;
  /** CNI_NETNS as given (a path). */
  netns?: string;
  ifname?: string;
  /** CNI_ARGS as given ("K=V;K2=V2"). */
  args?: string;
  /** CNI_PATH as given. */
  path?: string;
  /** The decoded network configuration from stdin (validated by the shim, again by the agent). */
  config: Record<string, unknown>;
}

export type CniResponse =
  | { ok: true; result?: unknown }
  | { ok: false; error: { code: ErrorCode; message: string; details?: string } };

/**
 * Written by the shim when DEL could not reach the agent, as `tombstoneDir(agentSocket)/
 * tombstoneFileName(containerId, ifname)` (tmp file + rename, so a reader never sees half of one).
 * The agent releases the attachment's addresses when it starts, then removes the file.
 */
export interface CniTombstone {
  containerId: string;
  ifname: string;
  /** CNI_NETNS as given; "" when the runtime sent none. */
  netns: string;
  /** The network config's `name`. */
  network: string;
  /** ISO 8601, when the DEL ran. */
  time: string;
}

export function tombstoneFileName(containerId: string, ifname: string): string {
  return `${containerId}-${ifname}.json`;
}

// TEMPORARY adapter until src/cni/config.ts and src/cni/version.ts land (being written in
// parallel); replaced by re-exports at merge time.
import type { CniAttachmentRef, CniResult } from '../cni/types.js';
import { TwillError } from '../util/errors.js';

export interface NetConf {
  cniVersion: string;
  name: string;
  mtu?: number;
  prevResult?: CniResult;
  validAttachments?: CniAttachmentRef[];
}

export function parseNetConf(raw: Record<string, unknown>, _command: string): NetConf {
  if (typeof raw['name'] !== 'string') throw new TwillError('CONFIG_INVALID', 'network config field "name" is required');
  const c: NetConf = { cniVersion: String(raw['cniVersion'] ?? '1.1.0'), name: raw['name'] };
  if (typeof raw['mtu'] === 'number') c.mtu = raw['mtu'];
  if (raw['prevResult']) c.prevResult = raw['prevResult'] as CniResult;
  if (Array.isArray(raw['cni.dev/valid-attachments'])) c.validAttachments = raw['cni.dev/valid-attachments'] as CniAttachmentRef[];
  return c;
}

export function encodeResult(r: CniResult, version: string): unknown {
  return { ...r, cniVersion: version };
}

// Twill's string error codes become CNI numbers here, at the binary's edge, and nowhere else.
// The table of plugin-specific codes (>= 100) is documented in README.md; keep both in step.
import { describeError, isTwillError, type ErrorCode } from '../util/errors.js';
import type { CniCommand } from './types.js';

/** Numbers 0–99 are the spec's; 100+ are Twill's own. */
export const CNI_ERROR_CODES: Readonly<Record<ErrorCode, number>> = {
  VERSION_INCOMPATIBLE: 1,
  UNSUPPORTED_FIELD: 2,
  CONTAINER_UNKNOWN: 3,
  ENV_INVALID: 4,
  IO: 5,
  DECODE: 6,
  CONFIG_INVALID: 7,
  TRY_AGAIN: 11,
  AGENT_UNREACHABLE: 11,
  NOT_AVAILABLE: 50,
  LIMITED_CONNECTIVITY: 51,
  INTERNAL: 100,
  KERNEL: 101,
  KERNEL_FEATURE_MISSING: 102,
  IPAM_EXHAUSTED: 103,
  CHECK_FAILED: 104,
  NOT_FOUND: 105,
  EXISTS: 106,
  CONFLICT: 107,
  VALIDATION: 108,
  DATASTORE: 109,
  TIMEOUT: 110,
};

/**
 * STATUS answers "can you serve ADD now?", and the spec gives it its own codes: every
 * "not now" condition is 50 there (LIMITED_CONNECTIVITY stays 51; protocol errors keep theirs).
 */
const STATUS_NOT_AVAILABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'AGENT_UNREACHABLE',
  'TRY_AGAIN',
  'TIMEOUT',
  'DATASTORE',
  'IPAM_EXHAUSTED',
  'NOT_AVAILABLE',
]);

export function cniErrorCode(code: ErrorCode, command?: CniCommand): number {
  if (command === 'STATUS' && STATUS_NOT_AVAILABLE.has(code)) return 50;
  return CNI_ERROR_CODES[code];
}

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.hasOwn(CNI_ERROR_CODES, s);
}

/** The spec's error result. */
export interface CniErrorResult {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** Any thrown value as a CNI error result; non-Twill errors are INTERNAL and keep their text. */
export function toCniError(e: unknown, cniVersion: string, command?: CniCommand): CniErrorResult {
  if (isTwillError(e)) {
    const out: CniErrorResult = { cniVersion, code: cniErrorCode(e.code, command), msg: e.message };
    const details = e.details ?? (e.cause !== undefined ? describeError(e.cause) : undefined);
    if (details && !e.message.includes(details)) out.details = details;
    return out;
  }
  return { cniVersion, code: CNI_ERROR_CODES.INTERNAL, msg: `internal error in twill-cni: ${describeError(e)}` };
}

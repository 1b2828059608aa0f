// Every error Twill raises carries a stable string `code` (undici's idea) and keeps its `cause`.
// Numeric CNI codes exist only at the binary's edge (src/cni/errors.ts maps them).

export type ErrorCode =
  | 'ENV_INVALID' // a required environment variable is missing or malformed
  | 'DECODE' // input is not decodable (bad JSON, bad YAML)
  | 'CONFIG_INVALID' // decodable, but a field is wrong
  | 'VERSION_INCOMPATIBLE' // cniVersion or API version we cannot speak
  | 'UNSUPPORTED_FIELD'
  | 'CONTAINER_UNKNOWN'
  | 'IO' // filesystem or process I/O failed
  | 'AGENT_UNREACHABLE' // the shim could not reach the agent
  | 'TRY_AGAIN' // transient: a lock, a datastore outage, a pool being claimed
  | 'NOT_AVAILABLE' // CNI STATUS: cannot serve ADD now (CNI code 50)
  | 'LIMITED_CONNECTIVITY' // CNI STATUS: not available, and existing pods may be cut off (CNI code 51)
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'CONFLICT' // compare-and-swap lost
  | 'IPAM_EXHAUSTED'
  | 'KERNEL' // the kernel refused a request
  | 'KERNEL_FEATURE_MISSING' // this kernel lacks a module the mode needs
  | 'CHECK_FAILED' // CNI CHECK found drift
  | 'VALIDATION' // a resource (policy, pod, ...) failed validation
  | 'DATASTORE' // the datastore failed or is unreachable
  | 'TIMEOUT'
  | 'INTERNAL';

export interface TwillErrorOptions {
  cause?: unknown;
  /** Extra context for people: which field, which file, which command. */
  details?: string;
}

export class TwillError extends Error {
  readonly code: ErrorCode;
  readonly details: string | undefined;

  constructor(code: ErrorCode, message: string, options: TwillErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TwillError';
    this.code = code;
    this.details = options.details;
  }
}

export function isTwillError(e: unknown, code?: ErrorCode): e is TwillError {
  return e instanceof TwillError && (code === undefined || e.code === code);
}

/** A readable one-line description of any thrown value, following `cause` chains. */
export function describeError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    if (cur instanceof Error) {
      parts.push(cur.message);
      cur = (cur as { cause?: unknown }).cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return [...new Set(parts)].join(': ');
}

/** Node's system errors carry `code` such as 'ENOENT'. */
export function errnoCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return undefined;
}

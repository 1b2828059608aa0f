// The CNI_* environment: which variables each command needs (SPEC.md section 2, "Input" of each
// operation) and the shape of the values. Problems are returned as text so callers can say which
// variable or field carried the bad value.
import { TwillError } from '../util/errors.js';
import type { CniCommand } from './types.js';

/** Required variables per command, exactly as the spec lists them. CNI_COMMAND is always required. */
export const REQUIRED_ENV: Readonly<Record<CniCommand, readonly string[]>> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

export const CNI_COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'];

export function isCniCommand(s: string): s is CniCommand {
  return (CNI_COMMANDS as readonly string[]).includes(s);
}

/** The reference plugins' rule for container ids and network names. */
export const CNI_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Linux IFNAMSIZ is 16 bytes including the terminating NUL. */
export const MAX_IFNAME_BYTES = 15;

export function containerIdProblem(id: string): string | undefined {
  if (id === '') return 'is empty';
  if (!CNI_NAME_RE.test(id)) {
    return `is ${JSON.stringify(id)}, but must start with a letter or digit followed only by letters, digits, "_", "." or "-"`;
  }
  return undefined;
}

/** The kernel's dev_valid_name() rules, as the reference plugins apply them. */
export function ifnameProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0) return 'is empty';
  if (bytes > MAX_IFNAME_BYTES) return `is ${JSON.stringify(name)} (${bytes} bytes), but Linux allows at most ${MAX_IFNAME_BYTES}`;
  if (name === '.' || name === '..') return `is ${JSON.stringify(name)}, which Linux does not allow as an interface name`;
  if (/[/:\s\u0085]/u.test(name)) return `is ${JSON.stringify(name)}, but must not contain "/", ":" or whitespace`;
  return undefined;
}

/**
 * CNI_ARGS: "K=V;K2=V2". Empty segments are tolerated (runtimes leave trailing ";"); a segment
 * without exactly one "=" and a key is an error, as in libcni's LoadArgs.
 */
export function parseCniArgs(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of s.split(';')) {
    if (pair === '') continue;
    const kv = pair.split('=');
    if (kv.length !== 2 || kv[0] === '') {
      throw new TwillError('ENV_INVALID', `CNI_ARGS has a malformed pair ${JSON.stringify(pair)}; expected KEY=VALUE pairs separated by ";"`);
    }
    out.set(kv[0]!, kv[1]!);
  }
  return out;
}

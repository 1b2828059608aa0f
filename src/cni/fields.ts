// Typed readers for decoded JSON. Every failure names the field by its full path
// ("prevResult.ips[0].address") because the person reading the error has to find it in a file.
import { TwillError } from '../util/errors.js';
import { isIp, tryParseCidr } from '../util/ip.js';
import type { CniDns } from './types.js';

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short rendering of a bad value for an error message. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    // why: formats a value for an error message: String() is the fallback
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function fieldError(path: string, expectation: string, got: unknown): TwillError {
  return new TwillError('CONFIG_INVALID', `network config field "${path}" must be ${expectation}, got ${describeValue(got)}`);
}

/** `base.key` or `base[3]`, for paths in messages. */
export function join(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base === '' ? key : `${base}.${key}`;
}

// Optional readers treat JSON null as absent, as Go's decoder (and so every reference plugin) does.

export function optString(o: JsonObject, key: string, base = ''): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw fieldError(join(base, key), 'a string', v);
  return v;
}

export function reqString(o: JsonObject, key: string, base = ''): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw fieldError(join(base, key), 'a non-empty string', v);
  return v;
}

export function optStringArray(o: JsonObject, key: string, base = ''): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw fieldError(join(base, key), 'a list of strings', v);
  v.forEach((x, i) => {
    if (typeof x !== 'string') throw fieldError(join(join(base, key), i), 'a string', x);
  });
  return [...(v as string[])];
}

/** A non-negative integer within `max` (the spec's "uint"). */
export function optUint(o: JsonObject, key: string, base = '', max = 2 ** 32 - 1): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw fieldError(join(base, key), `an integer between 0 and ${max}`, v);
  }
  return v;
}

export function optObject(o: JsonObject, key: string, base = ''): JsonObject | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw fieldError(join(base, key), 'an object', v);
  return v;
}

export function optArray(o: JsonObject, key: string, base = ''): unknown[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw fieldError(join(base, key), 'a list', v);
  return v;
}

/** Each element of a list must be an object; returns them with their paths. */
export function objectsOf(list: unknown[], path: string): { o: JsonObject; path: string }[] {
  return list.map((x, i) => {
    const p = join(path, i);
    if (!isObject(x)) throw fieldError(p, 'an object', x);
    return { o: x, path: p };
  });
}

export function optIp(o: JsonObject, key: string, base = ''): string | undefined {
  const v = optString(o, key, base);
  if (v !== undefined && !isIp(v)) throw fieldError(join(base, key), 'an IPv4 or IPv6 address', v);
  return v;
}

export function reqCidr(o: JsonObject, key: string, base = ''): { text: string; family: 4 | 6 } {
  const v = o[key];
  const c = typeof v === 'string' ? tryParseCidr(v) : undefined;
  if (!c) throw fieldError(join(base, key), 'an address in CIDR notation (e.g. "10.244.1.5/24")', v);
  return { text: v as string, family: c.family };
}

/** The `dns` dictionary, shared by network configs and results. */
export function optDns(o: JsonObject, key: string, base = ''): CniDns | undefined {
  const d = optObject(o, key, base);
  if (d === undefined) return undefined;
  const path = join(base, key);
  const out: CniDns = {};
  const nameservers = optStringArray(d, 'nameservers', path);
  nameservers?.forEach((ns, i) => {
    if (!isIp(ns)) throw fieldError(join(join(path, 'nameservers'), i), 'an IPv4 or IPv6 address', ns);
  });
  const domain = optString(d, 'domain', path);
  const search = optStringArray(d, 'search', path);
  const options = optStringArray(d, 'options', path);
  if (nameservers !== undefined) out.nameservers = nameservers;
  if (domain !== undefined) out.domain = domain;
  if (search !== undefined) out.search = search;
  if (options !== undefined) out.options = options;
  return out;
}

// Label selectors (metav1.LabelSelector) and the syntax rules for label keys, label values and
// named ports. Shared by validation, the evaluator and the compiler: matching is small enough to
// be checked by its own table test, and both sides must agree on it.
import type { LabelSelector, Labels } from './types.js';

/** The label the API server puts on every namespace (immutable, equal to the name). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * True when `labels` satisfy `sel`. An empty selector ({}) matches everything; every
 * matchLabels entry and every matchExpressions requirement must hold (AND).
 */
export function selectorMatches(sel: LabelSelector, labels: Labels): boolean {
  const ml = sel.matchLabels;
  for (const k in ml) {
    if (Object.prototype.hasOwnProperty.call(ml, k) && labels[k] !== ml[k]) return false;
  }
  for (const req of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, req.key);
    const value = labels[req.key];
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || value === undefined || !values.includes(value)) return false;
        break;
      case 'NotIn':
        // A missing key satisfies NotIn (as in Kubernetes).
        if (has && value !== undefined && values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `s` is not a valid DNS-1123 subdomain (a policy name, a label-key prefix), or undefined. */
export function dnsSubdomainProblem(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 253) return 'must be at most 253 characters';
  if (!DNS1123_SUBDOMAIN.test(s)) return 'must be lowercase letters, digits, "-" and ".", starting and ending with a letter or digit';
  return undefined;
}

/** Why `s` is not a valid DNS-1123 label (a namespace name), or undefined. */
export function dnsLabelProblem(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 63) return 'must be at most 63 characters';
  if (!DNS1123_LABEL.test(s)) return 'must be lowercase letters, digits and "-", starting and ending with a letter or digit';
  return undefined;
}

/** Why `key` is not a valid label key ([prefix/]name), or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    const p = dnsSubdomainProblem(prefix);
    if (p) return `prefix "${prefix}" ${p}`;
  }
  if (name.length === 0) return 'name part must not be empty';
  if (name.length > 63) return 'name part must be at most 63 characters';
  if (!NAME_PART.test(name)) return 'name part must be letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  return undefined;
}

/** Why `v` is not a valid label value, or undefined (the empty string is valid). */
export function labelValueProblem(v: string): string | undefined {
  if (v.length === 0) return undefined;
  if (v.length > 63) return 'must be at most 63 characters';
  if (!NAME_PART.test(v)) return 'must be letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  return undefined;
}

/** Why `s` is not an IANA_SVC_NAME (a named port), or undefined. */
export function portNameProblem(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 15) return 'a named port must be at most 15 characters';
  if (!/^[a-z0-9-]+$/.test(s)) return 'a named port must be lowercase letters, digits and "-"';
  if (!/[a-z]/.test(s)) return 'a named port must contain at least one letter (a number must be given as a number, not a string)';
  if (s.startsWith('-') || s.endsWith('-')) return 'a named port must not start or end with "-"';
  if (s.includes('--')) return 'a named port must not contain "--"';
  return undefined;
}

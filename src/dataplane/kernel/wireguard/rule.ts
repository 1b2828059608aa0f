// The one policy-routing rule of encryption, per family: `pref P not fwmark M lookup T`. Read with
// `ip -j rule` and changed with `ip rule` (a rule changes once per node lifetime; an exec is fine).
import { run } from '../exec.js';

export interface RuleSpec {
  priority: number;
  table: number;
  notFwmark: number;
}

interface IpRule {
  priority?: number;
  table?: string | number;
  fwmark?: string;
  not?: unknown;
}

async function listRules(family: 4 | 6): Promise<IpRule[]> {
  const { stdout } = await run('ip', [`-${family}`, '-j', 'rule', 'show']);
  return JSON.parse(stdout || '[]') as IpRule[];
}

const matches = (r: IpRule, s: RuleSpec): boolean =>
  r.priority === s.priority && String(r.table) === String(s.table) && r.not !== undefined && Number(r.fwmark) === s.notFwmark;

/** Ensures the rule exists for both families; returns how many were added. */
export async function ensureRule(s: RuleSpec): Promise<number> {
  let added = 0;
  for (const f of [4, 6] as const) {
    const rules = await listRules(f);
    if (rules.some((r) => matches(r, s))) continue;
    // Anything else at our priority is a stale rule of ours (another table or mark): replace it.
    // A delete that fails is thrown: the reconcile that called this logs it and retries.
    for (const _r of rules.filter((x) => x.priority === s.priority)) await run('ip', [`-${f}`, 'rule', 'del', 'pref', String(s.priority)]);
    await run('ip', [`-${f}`, 'rule', 'add', 'pref', String(s.priority), 'not', 'fwmark', `0x${s.notFwmark.toString(16)}`, 'lookup', String(s.table)]);
    added++;
  }
  return added;
}

/** Removes the rule (encryption switched off); returns how many were removed. */
export async function removeRule(s: RuleSpec): Promise<number> {
  let removed = 0;
  for (const f of [4, 6] as const) {
    for (const r of await listRules(f)) {
      if (!matches(r, s)) continue;
      await run('ip', [`-${f}`, 'rule', 'del', 'pref', String(s.priority), 'not', 'fwmark', `0x${s.notFwmark.toString(16)}`, 'lookup', String(s.table)]);
      removed++;
    }
  }
  return removed;
}

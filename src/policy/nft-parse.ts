// A parser for the subset of nft syntax the policy compiler writes (and `nft list` prints back):
// table blocks, add/delete/flush commands, counters, sets and maps with concatenated interval
// keys, and rules made of the selectors and statements listed below. Used by tests only (the
// tracer and the fake ruleset); anything outside the subset is a parse error, never ignored.
import { NftParseError, PRIORITIES, parseValue, tokenize, type Tok, type Value } from './nft-lex.js';

export { NftParseError, parseValue, type Value };

export type Verdict = { kind: 'accept' | 'drop' | 'return' } | { kind: 'jump' | 'goto'; target: string };

export interface ElementAst {
  key: Value[];
  verdict?: Verdict;
}

export const SELECTORS = ['iifname', 'oifname', 'ip saddr', 'ip daddr', 'ip6 saddr', 'ip6 daddr', 'meta l4proto', 'meta nfproto', 'th dport', 'ct state'] as const;
export type Selector = (typeof SELECTORS)[number];

export type Rhs = { kind: 'set'; name: string } | { kind: 'anon'; elements: ElementAst[] } | { kind: 'values'; values: Value[] };

export type Expr =
  | { kind: 'match'; lhs: Selector[]; op: '==' | '!='; rhs: Rhs }
  | { kind: 'vmap'; lhs: Selector[]; map: Rhs }
  | { kind: 'counter'; name?: string }
  | { kind: 'verdict'; verdict: Verdict };

export interface RuleAst {
  exprs: Expr[];
  text: string;
}

export interface ChainSpec {
  hook?: { type: string; hook: string; priority: number; policy: 'accept' | 'drop' };
  comment?: string;
}

export interface SetSpec {
  map: boolean;
  type: string[];
  dataType?: string;
  flags: string[];
  comment?: string;
  elements: ElementAst[];
}

export type Command =
  | { op: 'add' | 'delete'; obj: 'table'; table: string }
  | { op: 'add'; obj: 'chain'; table: string; name: string; spec: ChainSpec; rules: RuleAst[] }
  | { op: 'add'; obj: 'set'; table: string; name: string; spec: SetSpec }
  | { op: 'add'; obj: 'counter'; table: string; name: string; comment?: string }
  | { op: 'add' | 'delete'; obj: 'element'; table: string; name: string; elements: ElementAst[] }
  | { op: 'add'; obj: 'rule'; table: string; name: string; rule: RuleAst }
  | { op: 'flush' | 'delete'; obj: 'chain'; table: string; name: string }
  | { op: 'delete'; obj: 'set' | 'counter'; table: string; name: string };

class Parser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(): Tok | undefined {
    return this.toks[this.i];
  }
  private next(): Tok {
    const t = this.toks[this.i++];
    if (!t) throw new NftParseError('unexpected end of input');
    return t;
  }
  private fail(msg: string, t = this.peek()): never {
    throw new NftParseError(`line ${t?.line ?? '?'}: ${msg}${t ? ` (at "${t.v}")` : ''}`);
  }
  private expect(v: string): void {
    const t = this.next();
    if (t.v !== v || t.t === 's') this.fail(`expected "${v}"`, t);
  }
  private word(): string {
    const t = this.next();
    if (t.t !== 'w') this.fail('expected a name', t);
    return t.v;
  }
  private str(): string {
    const t = this.next();
    if (t.t !== 's') this.fail('expected a quoted string', t);
    return t.v;
  }
  private skipSeps(): void {
    while (this.peek() && (this.peek()!.t === 'nl' || this.peek()!.v === ';')) this.i++;
  }
  private skipNl(): void {
    while (this.peek()?.t === 'nl') this.i++;
  }
  private isWord(v: string): boolean {
    const t = this.peek();
    return t !== undefined && t.t === 'w' && t.v === v;
  }

  script(): Command[] {
    const out: Command[] = [];
    for (this.skipSeps(); this.peek(); this.skipSeps()) out.push(...this.command());
    return out;
  }

  private family(): void {
    const f = this.word();
    if (f !== 'inet') this.fail(`only the inet family is supported, not ${f}`);
  }

  private command(): Command[] {
    const verb = this.word();
    if (verb === 'table') {
      this.family();
      const table = this.word();
      return [{ op: 'add', obj: 'table', table }, ...this.tableBody(table)];
    }
    const obj = this.word();
    this.family();
    const table = this.word();
    if (obj === 'table') {
      if (verb !== 'add' && verb !== 'delete') this.fail(`cannot ${verb} a table`);
      return [{ op: verb, obj: 'table', table }];
    }
    const name = this.word();
    if (verb === 'add' && obj === 'chain') {
      const spec: ChainSpec = {};
      if (this.peek()?.v === '{') {
        this.next();
        this.chainBody(spec, []);
      }
      return [{ op: 'add', obj: 'chain', table, name, spec, rules: [] }];
    }
    if (verb === 'add' && (obj === 'set' || obj === 'map')) return [{ op: 'add', obj: 'set', table, name, spec: this.setBlock(obj === 'map') }];
    if (verb === 'add' && obj === 'counter') {
      const comment = this.peek()?.v === '{' ? this.counterBlock() : undefined;
      return [{ op: 'add', obj: 'counter', table, name, ...(comment !== undefined ? { comment } : {}) }];
    }
    if ((verb === 'add' || verb === 'delete') && obj === 'element') {
      this.expect('{');
      return [{ op: verb, obj: 'element', table, name, elements: this.elements() }];
    }
    if (verb === 'add' && obj === 'rule') return [{ op: 'add', obj: 'rule', table, name, rule: this.rule() }];
    if ((verb === 'flush' || verb === 'delete') && obj === 'chain') return [{ op: verb, obj: 'chain', table, name }];
    if (verb === 'delete' && (obj === 'set' || obj === 'map' || obj === 'counter')) return [{ op: 'delete', obj: obj === 'counter' ? 'counter' : 'set', table, name }];
    return this.fail(`unsupported command "${verb} ${obj}"`);
  }

  /**
   * A table block declares objects in any order; like nft, create counters and chains first,
   * then sets with their elements (which may name chains), then rules (which name both).
   */
  private tableBody(table: string): Command[] {
    const out: Command[] = [];
    const rulesAfter: Command[] = [];
    this.expect('{');
    for (this.skipSeps(); this.peek()?.v !== '}'; this.skipSeps()) {
      const kind = this.word();
      const name = this.word();
      if (kind === 'counter') {
        const comment = this.counterBlock();
        out.push({ op: 'add', obj: 'counter', table, name, ...(comment !== undefined ? { comment } : {}) });
      } else if (kind === 'set' || kind === 'map') out.push({ op: 'add', obj: 'set', table, name, spec: this.setBlock(kind === 'map') });
      else if (kind === 'chain') {
        this.expect('{');
        const spec: ChainSpec = {};
        const rules: RuleAst[] = [];
        this.chainBody(spec, rules);
        out.push({ op: 'add', obj: 'chain', table, name, spec, rules: [] });
        for (const rule of rules) rulesAfter.push({ op: 'add', obj: 'rule', table, name, rule });
      } else this.fail(`unsupported object "${kind}" in table`);
    }
    this.expect('}');
    const rank = (c: Command): number => (c.obj === 'counter' || c.obj === 'chain' ? 0 : 1);
    return [...out.sort((a, b) => rank(a) - rank(b)), ...rulesAfter];
  }

  private counterBlock(): string | undefined {
    let comment: string | undefined;
    this.expect('{');
    for (this.skipSeps(); this.peek()?.v !== '}'; this.skipSeps()) {
      const k = this.word();
      if (k === 'comment') comment = this.str();
      else if (k === 'packets' || k === 'bytes') this.word();
      else this.fail(`unsupported counter attribute "${k}"`);
    }
    this.expect('}');
    return comment;
  }

  private setBlock(map: boolean): SetSpec {
    const spec: SetSpec = { map, type: [], flags: [], elements: [] };
    this.expect('{');
    for (this.skipSeps(); this.peek()?.v !== '}'; this.skipSeps()) {
      const k = this.word();
      if (k === 'type') {
        spec.type.push(this.word());
        while (this.isWord('.')) {
          this.next();
          spec.type.push(this.word());
        }
        if (this.isWord(':')) {
          this.next();
          spec.dataType = this.word();
        }
      } else if (k === 'flags') {
        spec.flags.push(this.word());
        while (this.peek()?.v === ',') {
          this.next();
          spec.flags.push(this.word());
        }
      } else if (k === 'comment') spec.comment = this.str();
      else if (k === 'elements') {
        this.expect('=');
        this.expect('{');
        spec.elements = this.elements();
      } else this.fail(`unsupported set attribute "${k}"`);
    }
    this.expect('}');
    return spec;
  }

  private chainBody(spec: ChainSpec, rules: RuleAst[]): void {
    for (this.skipSeps(); this.peek()?.v !== '}'; this.skipSeps()) {
      if (this.isWord('type')) {
        this.next();
        const type = this.word();
        this.expect('hook');
        const hook = this.word();
        this.expect('priority');
        const p = this.word();
        const priority = PRIORITIES[p] ?? (/^-?\d+$/.test(p) ? Number(p) : this.fail(`unknown priority ${p}`));
        this.skipSeps();
        this.expect('policy');
        const policy = this.word();
        if (policy !== 'accept' && policy !== 'drop') this.fail(`bad policy ${policy}`);
        spec.hook = { type, hook, priority, policy };
      } else if (this.isWord('comment') && this.toks[this.i + 1]?.t === 's' && ['nl', 'p'].includes(this.toks[this.i + 2]?.t ?? 'nl')) {
        this.next();
        spec.comment = this.str();
      } else rules.push(this.rule());
    }
    this.expect('}');
  }

  /** key [: verdict] { , key [: verdict] } } — consumes the closing brace. */
  private elements(): ElementAst[] {
    const out: ElementAst[] = [];
    for (this.skipNl(); this.peek()?.v !== '}'; this.skipNl()) {
      const key: Value[] = [this.valueTok()];
      while (this.isWord('.')) {
        this.next();
        key.push(this.valueTok());
      }
      const el: ElementAst = { key };
      if (this.isWord(':')) {
        this.next();
        el.verdict = this.verdict(this.word());
      }
      out.push(el);
      this.skipNl();
      if (this.peek()?.v === ',') this.next();
    }
    this.expect('}');
    return out;
  }

  private valueTok(): Value {
    const t = this.next();
    if (t.t === 'p' || t.t === 'nl') this.fail('expected a value', t);
    return parseValue(t);
  }

  private verdict(w: string): Verdict {
    if (w === 'accept' || w === 'drop' || w === 'return') return { kind: w };
    if (w === 'jump' || w === 'goto') return { kind: w, target: this.word() };
    return this.fail(`unknown verdict "${w}"`);
  }

  private selector(): Selector | undefined {
    const t = this.peek();
    if (!t || t.t !== 'w') return undefined;
    if (t.v === 'iifname' || t.v === 'oifname') {
      this.next();
      return t.v;
    }
    const two = `${t.v} ${this.toks[this.i + 1]?.v ?? ''}`;
    if ((SELECTORS as readonly string[]).includes(two)) {
      this.i += 2;
      return two as Selector;
    }
    return undefined;
  }

  /** One rule: statements up to the end of the line (or ';'). */
  private rule(): RuleAst {
    const start = this.i;
    const exprs: Expr[] = [];
    while (this.peek() && this.peek()!.t !== 'nl' && this.peek()!.v !== ';' && this.peek()!.v !== '}') {
      const w = this.peek()!.v;
      if (w === 'counter') {
        this.next();
        if (this.isWord('name')) {
          this.next();
          const t = this.next();
          exprs.push({ kind: 'counter', name: t.v });
        } else if (this.isWord('packets')) {
          this.i += 4;
          exprs.push({ kind: 'counter' });
        } else exprs.push({ kind: 'counter' });
      } else if (['accept', 'drop', 'return', 'jump', 'goto'].includes(w)) {
        this.next();
        exprs.push({ kind: 'verdict', verdict: this.verdict(w) });
      } else {
        const lhs: Selector[] = [];
        const first = this.selector();
        if (!first) this.fail('unsupported expression');
        lhs.push(first);
        while (this.isWord('.')) {
          this.next();
          const s = this.selector();
          if (!s) this.fail('expected a selector after "."');
          lhs.push(s);
        }
        if (this.isWord('vmap')) {
          this.next();
          exprs.push({ kind: 'vmap', lhs, map: this.rhs() });
          continue;
        }
        let op: '==' | '!=' = '==';
        if (this.isWord('!=') || this.isWord('==')) op = this.next().v as '==' | '!=';
        exprs.push({ kind: 'match', lhs, op, rhs: this.rhs() });
      }
    }
    const toks = this.toks.slice(start, this.i);
    const text = toks.map((t) => (t.t === 's' ? `"${t.v}"` : t.v)).join(' ');
    return { exprs, text };
  }

  private rhs(): Rhs {
    const t = this.next();
    if (t.t === 'w' && t.v.startsWith('@')) return { kind: 'set', name: t.v.slice(1) };
    if (t.v === '{' && t.t === 'p') return { kind: 'anon', elements: this.elements() };
    const values = [parseValue(t)];
    while (this.peek()?.v === ',' && this.peek()?.t === 'p') {
      this.next();
      values.push(this.valueTok());
    }
    return { kind: 'values', values };
  }
}

/** Parses a script (a table block, commands, or both). Throws NftParseError on anything else. */
export function parseNft(text: string): Command[] {
  return new Parser(tokenize(text)).script();
}

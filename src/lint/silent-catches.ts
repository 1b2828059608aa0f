// Finds silent catches: a `catch` clause or a `.catch(handler)` that swallows the error (it does
// not throw, does not look at the error, and logs or reports nothing above debug). Issue 13's floor is that
// none is left unexplained on a path that changes kernel, IPAM or datastore state, so each
// remaining one carries a comment with `why:` (inside the handler, or on the line before or of
// the catch) saying why ignoring is right. Run: `node --import tsx src/lint/silent-catches.ts`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export interface SilentCatch {
  file: string;
  line: number;
  text: string;
}

// A call to one of these names the error to an operator (log, problem, reject, console, rethrow-ish).
const LOUD = /\b(log|warn|error|info|report|reject|fail|console|abort|destroy|exit|badCache|quarantine\w*)\s*\(|\.(warn|error|log)\b/;

function silentBody(body: ts.Node, errName: string | undefined, src: ts.SourceFile): boolean {
  let loud = false;
  const visit = (n: ts.Node): void => {
    if (loud) return;
    // A debug line is invisible where it matters: it neither makes a catch loud nor counts as
    // looking at the error.
    if (ts.isCallExpression(n) && /\.debug$/.test(n.expression.getText(src))) return;
    if (ts.isThrowStatement(n)) loud = true;
    else if (errName && ts.isIdentifier(n) && n.text === errName) loud = true;
    else if (ts.isCallExpression(n) && LOUD.test(n.expression.getText(src) + '(')) loud = true;
    else ts.forEachChild(n, visit);
  };
  visit(body);
  return !loud;
}

function hasWhy(text: string, node: ts.Node, src: ts.SourceFile): boolean {
  const start = src.getLineAndCharacterOfPosition(node.getStart(src)).line;
  const end = src.getLineAndCharacterOfPosition(node.getEnd()).line;
  const lines = text.split('\n').slice(Math.max(0, start - 1), end + 1).join('\n');
  return /\/\/.*\bwhy:|\/\*.*\bwhy:/.test(lines);
}

export function silentCatchesIn(file: string, text: string): SilentCatch[] {
  const src = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: SilentCatch[] = [];
  const add = (n: ts.Node): void => {
    if (hasWhy(text, n, src)) return;
    out.push({ file, line: src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1, text: n.getText(src).split('\n')[0]!.slice(0, 100) });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isCatchClause(n)) {
      const name = n.variableDeclaration && ts.isIdentifier(n.variableDeclaration.name) ? n.variableDeclaration.name.text : undefined;
      if (silentBody(n.block, name, src)) add(n);
    } else if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'catch' && n.arguments.length === 1) {
      const h = n.arguments[0]!;
      if (ts.isArrowFunction(h) || ts.isFunctionExpression(h)) {
        const p = h.parameters[0];
        const name = p && ts.isIdentifier(p.name) ? p.name.text : undefined;
        if (silentBody(h.body, name, src)) add(n);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every silent catch without a `why:` comment under `root` (test files excluded). */
export function silentCatches(root: string): SilentCatch[] {
  return walk(root).flatMap((f) => silentCatchesIn(relative(process.cwd(), f), readFileSync(f, 'utf8')));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const found = silentCatches('src');
  // eslint-disable-next-line no-console -- a command-line report
  for (const c of found) console.log(`${c.file}:${c.line}  ${c.text}`);
  // eslint-disable-next-line no-console -- a command-line report
  console.log(`${found.length} silent catch(es) without a why: comment`);
  process.exitCode = found.length ? 1 : 0;
}

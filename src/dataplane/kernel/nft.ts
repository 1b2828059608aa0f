// nftables transactions. A script is written to a file and applied with `nft -f FILE` (nft 1.0.6
// misreads scripts piped from Node). The file stays: it is the exact text the kernel was given,
// the first thing to read when a ruleset misbehaves. One `nft -f` is one atomic transaction.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TwillError, describeError } from '../../util/errors.js';
import { run, runInNetns, CommandError } from './exec.js';
import { shellPool, ShellCommandError } from './shell.js';

export interface NftApplyOptions {
  /** Where the script is kept, e.g. /run/twill/nft/twill-policy.nft. */
  file: string;
  /** Check only (`nft -c -f`): nothing is changed. */
  checkOnly?: boolean;
  /** Run nft inside this network namespace (a bind-mounted netns file) instead of the caller's. */
  netnsPath?: string;
}

/**
 * Writes the script and runs `nft -f` on it, through the resident helper shells (shell.ts): an
 * agent-sized process pays ~10 ms or more per fork, and policy updates are latency-sensitive.
 */
export async function applyNft(script: string, opts: NftApplyOptions): Promise<void> {
  writeNftScript(opts.file, script);
  const args = opts.checkOnly ? ['-c', '-f', opts.file] : ['-f', opts.file];
  const argv = opts.netnsPath ? ['nsenter', `--net=${opts.netnsPath}`, '--', 'nft', ...args] : ['nft', ...args];
  try {
    await shellPool().run(argv);
  } catch (e) {
    const why = e instanceof ShellCommandError ? e.output.trim() : describeError(e);
    throw new TwillError('KERNEL', `nft rejected ${opts.file}: ${why}`, { cause: e, details: `the script is kept at ${opts.file}` });
  }
}

/** Writes a transaction's text where it is kept (atomically: a reader sees the old or the new file). */
export function writeNftScript(file: string, script: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, script);
  renameSync(tmp, file);
}

/** `nft -j list …`, parsed. Returns undefined when the object does not exist. */
export async function nftListJson(args: string[], opts: { netnsPath?: string } = {}): Promise<unknown> {
  try {
    const argv = ['-j', 'list', ...args];
    const { stdout } = await (opts.netnsPath ? runInNetns(opts.netnsPath, 'nft', argv) : run('nft', argv));
    return JSON.parse(stdout) as unknown;
  } catch (e) {
    if (e instanceof CommandError && /No such file or directory|does not exist/.test(e.stderr)) return undefined;
    throw e;
  }
}

export async function nftTableExists(family: string, table: string): Promise<boolean> {
  return (await nftListJson(['table', family, table])) !== undefined;
}

export async function nftDeleteTable(family: string, table: string): Promise<void> {
  if (await nftTableExists(family, table)) await run('nft', ['delete', 'table', family, table]);
}

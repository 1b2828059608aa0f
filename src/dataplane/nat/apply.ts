// applyNat: one `nft -f` transaction, skipped when the kernel already holds what was last applied.
// The script is kept under the run dir (nftScriptPath): the first thing to read when NAT misbehaves.
import { readFile } from 'node:fs/promises';
import { errnoCode } from '../../util/errors.js';
import { DEFAULT_RUN_DIR, nftScriptPath } from '../kernel/names.js';
import { applyNft, nftTableExists } from '../kernel/nft.js';
import type { CompiledNat } from './compile.js';

export interface ApplyNatOptions {
  /** Default /run/twill; the script goes to <runDir>/nft/twill-nat.nft. */
  runDir?: string;
  /**
   * Apply even if the same script was applied last time. Without it, only the script text and the
   * table's existence are compared, so a slow safety-net reconcile should pass `force`.
   */
  force?: boolean;
}

async function lastApplied(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** Returns whether anything was applied. */
export async function applyNat(nat: CompiledNat, opts: ApplyNatOptions = {}): Promise<{ changed: boolean; file: string }> {
  const file = nftScriptPath(opts.runDir ?? DEFAULT_RUN_DIR, nat.table);
  if (!opts.force && (await lastApplied(file)) === nat.script && (await nftTableExists(nat.family, nat.table)) === nat.present) {
    return { changed: false, file };
  }
  await applyNft(nat.script, { file });
  return { changed: true, file };
}

// node:fs for the shim without the cost of an ESM import of it (~2 ms, a third of the shim's own
// start-up: the loader builds a namespace of every fs export). process.getBuiltinModule (Node
// >= 20.16) returns the module Node has already loaded; older Nodes take the import.
import type * as Fs from 'node:fs';

export type NodeFs = typeof Fs;

let cached: NodeFs | undefined;

export async function nodeFs(): Promise<NodeFs> {
  if (cached) return cached;
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  cached = (get?.call(process, 'node:fs') as NodeFs | undefined) ?? (await import('node:fs'));
  return cached;
}

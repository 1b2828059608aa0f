// Kubernetes YAML for the lab: files or directories, several documents per file. Every document
// is checked before anything is applied; an error names the file, the document and the field.
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { AnyResource, EndpointSlice, Namespace, NetworkPolicy, Pod, Service } from '../model/types.js';
import { validateEndpointSlice, validateService } from '../model/validate-service.js';
import { validateNamespace, validatePod, type FieldError } from '../model/validate.js';
import { validateNetworkPolicy } from '../policy/index.js';
import { TwillError } from '../util/errors.js';

export type LabResource = Namespace | Pod | NetworkPolicy | Service | EndpointSlice;

export interface LoadedDoc {
  source: string;
  /** 1-based document number within its file. */
  index: number;
  obj: LabResource;
}

const KINDS: Record<string, { apiVersion: string; validate: (o: never) => FieldError[] }> = {
  Namespace: { apiVersion: 'v1', validate: validateNamespace as (o: never) => FieldError[] },
  Pod: { apiVersion: 'v1', validate: validatePod as (o: never) => FieldError[] },
  NetworkPolicy: { apiVersion: 'networking.k8s.io/v1', validate: validateNetworkPolicy as (o: never) => FieldError[] },
  Service: { apiVersion: 'v1', validate: validateService as (o: never) => FieldError[] },
  EndpointSlice: { apiVersion: 'discovery.k8s.io/v1', validate: validateEndpointSlice as (o: never) => FieldError[] },
};

async function files(path: string): Promise<string[]> {
  // why: thrown just below as NOT_FOUND
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new TwillError('NOT_FOUND', `${path}: no such file or directory`);
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const e of (await readdir(path)).sort()) {
    const p = join(path, e);
    if ((await stat(p)).isDirectory()) continue;
    if (['.yaml', '.yml', '.json'].includes(extname(e))) out.push(p);
  }
  return out;
}

function describe(d: { source: string; index: number }, obj?: { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } }): string {
  const what = obj?.kind ? ` (${String(obj.kind)} ${obj.metadata?.namespace ? `${String(obj.metadata.namespace)}/` : ''}${String(obj.metadata?.name ?? '?')})` : '';
  return `${d.source} document ${d.index}${what}`;
}

/** Reads and validates every document; throws one error listing every problem found. */
export async function loadManifests(paths: string[]): Promise<LoadedDoc[]> {
  const docs: LoadedDoc[] = [];
  const problems: string[] = [];
  for (const p of paths) {
    for (const file of await files(p)) {
      const text = await readFile(file, 'utf8');
      const parsed = parseAllDocuments(text);
      let index = 0;
      for (const d of parsed) {
        index++;
        const where = { source: file, index };
        if (d.errors.length) {
          problems.push(`${describe(where)}: not valid YAML: ${d.errors[0]!.message.split('\n')[0]}`);
          continue;
        }
        const raw = d.toJS() as unknown;
        if (raw === null || raw === undefined) continue;
        if (typeof raw !== 'object' || Array.isArray(raw)) {
          problems.push(`${describe(where)}: must be a Kubernetes object (a mapping with apiVersion, kind, metadata)`);
          continue;
        }
        const o = raw as Record<string, unknown> & { kind?: unknown; apiVersion?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
        if (o.kind === 'List' && Array.isArray(o['items'])) {
          problems.push(`${describe(where)}: kind List is not supported; write one document per object`);
          continue;
        }
        const k = typeof o.kind === 'string' ? KINDS[o.kind] : undefined;
        if (!k) {
          problems.push(`${describe(where, o)}: kind ${JSON.stringify(o.kind)} is not supported by the lab (supported: ${Object.keys(KINDS).join(', ')})`);
          continue;
        }
        if (o.apiVersion !== k.apiVersion) {
          problems.push(`${describe(where, o)}: apiVersion must be ${k.apiVersion} for ${String(o.kind)}, got ${JSON.stringify(o.apiVersion)}`);
          continue;
        }
        if (o.kind !== 'Namespace' && o.metadata && typeof o.metadata === 'object' && o.metadata.namespace === undefined) o.metadata.namespace = 'default';
        const errs = k.validate(o as never);
        if (errs.length) {
          for (const e of errs) problems.push(`${describe(where, o)}: ${e.field}: ${e.message}`);
          continue;
        }
        docs.push({ ...where, obj: o as unknown as LabResource });
      }
    }
  }
  const seen = new Map<string, LoadedDoc>();
  for (const d of docs) {
    const key = `${d.obj.kind}/${d.obj.metadata.namespace ?? ''}/${d.obj.metadata.name}`;
    const prev = seen.get(key);
    if (prev) problems.push(`${describe(d, d.obj)}: the same object is also defined in ${describe(prev)}`);
    seen.set(key, d);
  }
  if (problems.length) {
    throw new TwillError('VALIDATION', `${problems.length} problem${problems.length > 1 ? 's' : ''}; nothing was applied:\n  ${problems.join('\n  ')}`);
  }
  return docs;
}

export function isKind<K extends AnyResource['kind']>(o: LabResource, kind: K): o is Extract<LabResource, { kind: K }> {
  return o.kind === kind;
}

// A lab's identity and on-disk state. Everything a lab creates is named from its name, so several
// labs coexist and `lab down` can find and remove all of it even after a crash:
//   namespaces  twl-<lab>-ul (underlay), twl-<lab>-<node>, twl-<lab>-p-<ns>-<pod>-<hash>
//   files       /run/twill/labs/<lab>/ (lab.json, etcd/, nodes/<node>/, pods/<ns>_<pod>/)
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendName, EncryptionMode } from '../model/types.js';
import { TwillError } from '../util/errors.js';

export const LABS_DIR = '/run/twill/labs';

export interface LabNode {
  name: string;
  netns: string;
  underlayIP: string;
}

export interface LabState {
  name: string;
  createdAt: string;
  pool: string;
  backend: BackendName;
  directRouting: boolean;
  /** Absent in labs made before encryption existed: none. */
  encryption?: EncryptionMode;
  etcd: { clientUrl: string; socket: string; pid?: number };
  underlayNetns: string;
  nodes: LabNode[];
  /** Agent settings chosen at `lab up` (short lease and grace so the lab shows failures quickly). */
  leaseTtlSeconds: number;
  blockGraceSeconds: number;
  /** Set when the lab is a real Kubernetes cluster (`lab up --kubernetes`). */
  kubernetes?: KubeLabInfo;
  /** Extra agent flags chosen at `lab up`. */
  agentFlags?: string[];
}

export type LabCni = 'twill' | 'bridge';

export interface KubeLabInfo {
  /** What wires pods: Twill, or the reference bridge + host-local plugins (the baseline). */
  cni: LabCni;
  /** How Twill got there: `kubectl apply -f deploy/twill.yaml`, or a standalone agent per node. */
  install?: 'deploy' | 'standalone';
  /** https://192.0.2.1:6443, reachable from the underlay namespace and every node. */
  url: string;
  /** Admin kubeconfig (use it from the underlay namespace: `twill lab kubectl`). */
  kubeconfig: string;
  /** The pod range the lab gives each node (bridge / standalone: routed by the lab). */
  podCidrs: Record<string, string>;
  /** false: no kube-proxy runs; Twill serves Services (kubeProxyReplacement). Absent = true. */
  kubeProxy?: boolean;
}

export function validateLabName(name: string): string {
  if (!/^[a-z][a-z0-9]{0,11}$/.test(name)) {
    throw new TwillError('CONFIG_INVALID', `lab name "${name}" must be 1-12 lower-case letters or digits, starting with a letter`);
  }
  return name;
}

export const labDir = (lab: string): string => join(LABS_DIR, lab);
export const nodeDir = (lab: string, node: string): string => join(labDir(lab), 'nodes', node);
export const podDir = (lab: string, ns: string, pod: string): string => join(labDir(lab), 'pods', `${ns}_${pod}`);
export const nodeNetns = (lab: string, node: string): string => `twl-${lab}-${node}`;
export const underlayNetns = (lab: string): string => `twl-${lab}-ul`;
export const etcdSpec = (s: LabState): string => `etcd:unix://${s.etcd.socket}`;

export async function saveLab(s: LabState): Promise<void> {
  await mkdir(labDir(s.name), { recursive: true });
  const file = join(labDir(s.name), 'lab.json');
  await writeFile(`${file}.tmp`, JSON.stringify(s, null, 2) + '\n');
  await rename(`${file}.tmp`, file);
}

export async function loadLab(name: string): Promise<LabState | undefined> {
  try {
    return JSON.parse(await readFile(join(labDir(name), 'lab.json'), 'utf8')) as LabState;
  } catch {
    // why: read-only: no lab.json means no such lab
    return undefined;
  }
}

export async function listLabs(): Promise<string[]> {
  try {
    return (await readdir(LABS_DIR)).sort();
  } catch {
    // why: read-only: no labs folder means no labs
    return [];
  }
}

/** The lab a command means: --name, else the one lab that is up. */
export async function resolveLab(name: string | undefined): Promise<LabState> {
  if (name) {
    const s = await loadLab(validateLabName(name));
    if (!s) throw new TwillError('NOT_FOUND', `no lab named "${name}" is up (see \`twill lab list\`; start one with \`twill lab up --name ${name}\`)`);
    return s;
  }
  const labs: LabState[] = [];
  for (const n of await listLabs()) {
    const s = await loadLab(n);
    if (s) labs.push(s);
  }
  if (labs.length === 0) throw new TwillError('NOT_FOUND', 'no lab is up; start one with `twill lab up`');
  if (labs.length > 1) throw new TwillError('CONFIG_INVALID', `${labs.length} labs are up (${labs.map((l) => l.name).join(', ')}); say which with --name`);
  return labs[0]!;
}

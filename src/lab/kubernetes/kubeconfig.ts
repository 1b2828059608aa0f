// Kubeconfig files (written as JSON, which every Kubernetes client reads as YAML) that point at
// certificate files rather than embedding them, so a person can inspect what a component uses.
import { readFile, writeFile } from 'node:fs/promises';
import type { CertFiles } from './pki.js';

export interface KubeconfigSpec {
  server: string;
  caFile: string;
  client: CertFiles;
  user: string;
}

export function kubeconfigText(s: KubeconfigSpec): string {
  return render(s, { 'certificate-authority': s.caFile }, { 'client-certificate': s.client.cert, 'client-key': s.client.key });
}

/** A kubeconfig carrying its certificates, for a node whose mount namespace cannot see the lab's PKI folder. */
export async function embeddedKubeconfigText(s: KubeconfigSpec): Promise<string> {
  const b64 = async (f: string) => (await readFile(f)).toString('base64');
  return render(s, { 'certificate-authority-data': await b64(s.caFile) }, { 'client-certificate-data': await b64(s.client.cert), 'client-key-data': await b64(s.client.key) });
}

function render(s: KubeconfigSpec, ca: Record<string, string>, user: Record<string, string>): string {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server: s.server, ...ca } }],
    users: [{ name: s.user, user }],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user: s.user } }],
    'current-context': 'lab',
    preferences: {},
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

export async function writeKubeconfig(file: string, s: KubeconfigSpec): Promise<string> {
  await writeFile(file, kubeconfigText(s), { mode: 0o600 });
  return file;
}

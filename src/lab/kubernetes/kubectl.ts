// kubectl against a Kubernetes lab. The apiserver lives in the lab's underlay namespace, so
// kubectl runs there (nsenter), with the admin kubeconfig.
import { spawn } from 'node:child_process';
import { run, type RunResult } from '../../dataplane/kernel/exec.js';
import { external } from './externals.js';

export interface KubectlTarget {
  /** Namespace the apiserver is reachable from (the lab's underlay); undefined = this one. */
  netns?: string;
  kubeconfig: string;
}

export function kubectlArgv(t: KubectlTarget, args: string[]): string[] {
  const base = [external('kubectl'), `--kubeconfig=${t.kubeconfig}`, ...args];
  return t.netns ? ['nsenter', `--net=/run/netns/${t.netns}`, '--', ...base] : base;
}

/** Runs kubectl and captures its output; a failure carries kubectl's own message. */
export function kubectl(t: KubectlTarget, args: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const argv = kubectlArgv(t, args);
  return run(argv[0]!, argv.slice(1), { timeoutMs: o.timeoutMs ?? 60_000, ...(o.input !== undefined ? { input: o.input } : {}) });
}

export async function kubectlJson<T>(t: KubectlTarget, args: string[]): Promise<T> {
  return JSON.parse((await kubectl(t, [...args, '-o', 'json'])).stdout) as T;
}

/** Runs kubectl with the terminal attached (for `twill lab kubectl -- …`); resolves to its exit code. */
export function kubectlInteractive(t: KubectlTarget, args: string[]): Promise<number> {
  const argv = kubectlArgv(t, args);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
  return new Promise((r) => child.on('close', (c) => r(c ?? 1)));
}

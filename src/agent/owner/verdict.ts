// What a SIGTERM means. The agent pod is stopped in two very different situations:
//   - a rolling update or restart: the DaemonSet stays; the kernel state must stay too, so pod
//     flows keep going and the next agent adopts it;
//   - an uninstall (`kubectl delete -f twill.yaml`, `helm uninstall`): the DaemonSet or its
//     namespace is deleted; everything Twill made on the node must go.
// Pure: the observations come from owner-watch.ts.

export type ObjectState = 'present' | 'deleting' | 'gone' | 'unknown';

export interface Observations {
  /** Latest state of the agent's DaemonSet and its namespace, from the watches. */
  daemonSet: ObjectState;
  namespace: ObjectState;
  /** A look taken at SIGTERM time: the objects, or the HTTP status that refused it. */
  fresh?: { daemonSet: ObjectState; namespace: ObjectState } | { status: number } | undefined;
  /** The watches worked at some point (so the API accepted our credentials then). */
  everSynced: boolean;
}

export type ExitMode = 'uninstall' | 'keep';

const ending = (s: ObjectState): boolean => s === 'deleting' || s === 'gone';

export function exitMode(o: Observations): ExitMode {
  if (ending(o.daemonSet) || ending(o.namespace)) return 'uninstall';
  const f = o.fresh;
  if (f === undefined) return 'keep';
  if ('status' in f) {
    // Our ServiceAccount (401) or its Role (403) disappearing is part of an uninstall; an update
    // never deletes them. Before the first sync the same status means a broken install: keep.
    return o.everSynced && (f.status === 401 || f.status === 403) ? 'uninstall' : 'keep';
  }
  return ending(f.daemonSet) || ending(f.namespace) ? 'uninstall' : 'keep';
}

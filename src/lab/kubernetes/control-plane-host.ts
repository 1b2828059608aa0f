// `twill lab control-plane-host`: what the control-plane "node" of a Kubernetes lab has that the
// underlay namespace lacks — the cluster DNS (dns/) and routes to the pods (pod-routes.ts). One
// process in the underlay namespace, started by `lab up --kubernetes`, reading the API as admin.
import { kubeconfigAccess } from '../../datastore/kubernetes/access.js';
import { KubernetesStore } from '../../datastore/kubernetes/store.js';
import { serveLabDns } from './dns/serve.js';
import { syncPodRoutes } from './pod-routes.js';

export async function runControlPlaneHost(o: { kubeconfig: string; listen: string }): Promise<{ close: () => Promise<void> }> {
  const store = new KubernetesStore({ access: kubeconfigAccess(o.kubeconfig) });
  const routes = await syncPodRoutes(store);
  const dns = await serveLabDns(store, { listen: o.listen });
  return {
    close: async () => {
      routes.stop();
      await dns.close();
      await store.close();
    },
  };
}

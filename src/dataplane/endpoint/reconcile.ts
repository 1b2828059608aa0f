// Start-up reconcile of pod routes: every live attachment has its /32 route via its host veth;
// no proto-116 route points into a `twl…` veth that no attachment owns. Diffed, so an agent
// restart with nothing to repair changes nothing.
import { HOST_VETH_PREFIX, ROUTE_PROTOCOL } from '../kernel/names.js';
import { netlink } from '../kernel/netlink.js';
import { compileEndpoint, type EndpointSpec } from './compile.js';

export async function reconcileEndpointRoutes(attachments: (EndpointSpec & { hostIface: string })[]): Promise<number> {
  const nl = netlink();
  const links = await nl.listLinks();
  const byIndex = new Map(links.map((l) => [l.index, l.name]));
  const present = new Set(links.map((l) => l.name));
  const want = new Map<string, string>(); // dst -> host iface
  for (const a of attachments) {
    if (!present.has(a.hostIface)) continue;
    for (const r of compileEndpoint(a).hostRoutes) want.set(r.dst, a.hostIface);
  }
  let changes = 0;
  const have = await nl.listRoutes({ protocol: ROUTE_PROTOCOL });
  const seen = new Set<string>();
  for (const r of have) {
    const dev = r.oif !== undefined ? byIndex.get(r.oif) : undefined;
    if (!dev?.startsWith(HOST_VETH_PREFIX)) continue;
    if (want.get(r.dst) === dev) {
      seen.add(r.dst);
      continue;
    }
    await nl.deleteRoute({ ...r, dev: undefined });
    changes++;
  }
  for (const [dst, dev] of want) {
    if (seen.has(dst)) continue;
    await nl.replaceRoute({ dst, dev, scope: 'link', protocol: ROUTE_PROTOCOL });
    changes++;
  }
  return changes;
}

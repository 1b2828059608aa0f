// Scenario YAML may name pod addresses, which the lab assigns at run time:
//   {{ip x/b}}         the pod's address, e.g. 10.244.103.193
//   {{cidr x/b 26}}    the network of that prefix length holding it, e.g. 10.244.103.192/26
//   {{host x/b}}       the pod's host CIDR, e.g. 10.244.103.193/32
// Pure: the caller supplies the addresses.
import { formatCidr, hostCidr, parseCidr } from '../../../src/util/ip.js';

const PLACEHOLDER = /\{\{\s*(ip|cidr|host)\s+([a-z0-9-]+\/[a-z0-9-]+)(?:\s+(\d+))?\s*\}\}/g;

export function renderTemplate(text: string, ips: ReadonlyMap<string, string>, source = 'template'): string {
  const out = text.replace(PLACEHOLDER, (_m, fn: string, pod: string, prefix: string | undefined) => {
    const ip = ips.get(pod);
    if (!ip) throw new Error(`${source}: {{${fn} ${pod}}} names a pod the lab does not run (pods: ${[...ips.keys()].join(' ')})`);
    if (fn === 'ip') return ip;
    if (fn === 'host') return hostCidr(ip);
    if (prefix === undefined) throw new Error(`${source}: {{cidr ${pod}}} needs a prefix length, e.g. {{cidr ${pod} 24}}`);
    return formatCidr(parseCidr(`${ip}/${prefix}`));
  });
  const left = /\{\{[^}]*\}\}/.exec(out);
  if (left) throw new Error(`${source}: cannot understand placeholder ${left[0]} (use {{ip NS/POD}}, {{host NS/POD}} or {{cidr NS/POD PREFIX}})`);
  return out;
}

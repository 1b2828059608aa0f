// The Kubernetes lab's cluster DNS: a small server in the underlay namespace (beside the
// apiserver) that the kubelets name as clusterDNS, run by `twill lab control-plane-host`. The lab has no CoreDNS image and pulls nothing,
// yet the upstream e2e tests reach Services by name; this answers the names records.ts describes,
// from Services and EndpointSlices watched through Twill's kubernetes datastore. UDP and TCP.
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { Informer } from '../../../agent/informer.js';
import type { Store } from '../../../datastore/store.js';
import { describeError } from '../../../util/errors.js';
import { rootLogger } from '../../../util/log.js';
import { lookup } from './records.js';
import { buildResponse, parseQuery, RCODE_FORMERR, RCODE_NOTIMP } from './wire.js';

const log = rootLogger.child('lab-dns');

export interface LabDnsOptions {
  listen: string;
  port?: number;
  domain?: string;
}

export async function serveLabDns(store: Store, o: LabDnsOptions): Promise<{ close: () => Promise<void> }> {
  const services = new Informer(store, 'Service', () => undefined);
  const slices = new Informer(store, 'EndpointSlice', () => undefined);
  for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
    try {
      if (!services.synced) await services.start();
      if (!slices.synced) await slices.start();
      break;
    } catch (e) {
      log.warn('cannot read Services yet; retrying', { error: describeError(e) });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  const domain = o.domain ?? 'cluster.local';
  const answer = (msg: Buffer): Buffer | undefined => {
    const q = parseQuery(msg);
    if (!q) return msg.length >= 12 ? buildResponse({ id: msg.readUInt16BE(0), raw: Buffer.alloc(0), recursionDesired: false }, RCODE_FORMERR) : undefined;
    if (q.class !== 1) return buildResponse(q, RCODE_NOTIMP);
    const r = lookup({ domain, services: services.items, slices: slices.list() }, q.name, q.type);
    return buildResponse(q, r.rcode, r.answers);
  };
  const port = o.port ?? 53;
  const udp = createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const out = answer(msg);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, o.listen, () => resolve());
  });
  const tcp: Server = createServer((c) => {
    let buf = Buffer.alloc(0);
    c.on('error', () => undefined);
    c.setTimeout(5000, () => c.destroy());
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const out = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        if (out) c.write(Buffer.concat([Buffer.from([out.length >> 8, out.length & 0xff]), out]));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, o.listen, () => resolve());
  });
  log.info('cluster DNS ready', { listen: `${o.listen}:${port}`, domain, services: services.items.size });
  return {
    close: async () => {
      services.stop();
      slices.stop();
      udp.close();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

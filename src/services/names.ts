// Names of the per-Service objects in the twill-services table. A name is a short hash of what
// the object stands for (so it is stable across syncs: an unchanged Service keeps its chains and
// the incremental diff leaves them alone) followed by a readable tail for whoever reads
// `nft list table`. nft allows 255 characters; the tail is cut to stay well below.
import { createHash } from 'node:crypto';
import type { EndpointTarget, ServicePortPlan } from './resolve.js';

function hash(s: string): string {
  return createHash('sha256').update(s).digest('base64url').slice(0, 8).replace(/[-_]/g, 'x').toUpperCase();
}

function tail(s: string): string {
  return s.length > 180 ? s.slice(0, 180) : s;
}

/** Endpoint address for a chain name: nft identifiers may not hold ':'. */
const addr = (ip: string): string => ip.replace(/:/g, '.');

/** The chain that picks any usable endpoint of a Service port. */
export const serviceChain = (p: ServicePortPlan): string => `svc${p.family}-${hash(`svc|${p.family}|${p.id}`)}-${tail(p.id)}`;

/** The chain that picks among this node's endpoints only (traffic policy Local). */
export const localChain = (p: ServicePortPlan): string => `local${p.family}-${hash(`local|${p.family}|${p.id}`)}-${tail(p.id)}`;

/** Where traffic to external addresses and NodePorts enters (masquerade decisions). */
export const externalChain = (p: ServicePortPlan): string => `ext${p.family}-${hash(`ext|${p.family}|${p.id}`)}-${tail(p.id)}`;

/** The chain that DNATs to one endpoint. */
export const endpointChain = (p: ServicePortPlan, e: EndpointTarget): string => `ep${p.family}-${hash(`ep|${p.family}|${p.id}|${e.ip}|${e.port}`)}-${tail(`${p.id}__${addr(e.ip)}/${e.port}`)}`;

/** The set of clients recently sent to one endpoint (ClientIP affinity). */
export const affinitySet = (p: ServicePortPlan, e: EndpointTarget): string => `aff${p.family}-${hash(`ep|${p.family}|${p.id}|${e.ip}|${e.port}`)}-${tail(`${p.id}__${addr(e.ip)}/${e.port}`)}`;

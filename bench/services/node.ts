// One node as the bench builds it, the same for every proxy: a node namespace with an underlay
// address, a client pod and a server pod (three addresses, a connection server on 8080 and iperf3
// on 5201), wired as Twill wires pods (a /32 each, gateway 169.254.1.1 answered by a permanent
// neighbour).
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT, NODE_IP, SERVERS } from './objects.js';
import { crrBinary } from '../tools/crr.js';
import { firstLine, namespaces, nsx, sh, start, stop } from './proc.js';

export const HELPERS = join(fileURLToPath(new URL('.', import.meta.url)), 'helpers.mjs');
/** The connect–close load generator (Go): `serve PORT`, `connect HOST PORT SECONDS CONC`. */
export const CRR = crrBinary();
export const TAG = `svpb${process.pid.toString(36)}`;
/** Where the pods' servers and clients run (see makeNode). */
export const SERVER_CPU = '1';
export const CLIENT_CPU = '0';

export interface Node {
  ns: string;
  client: string;
  server: string;
  servers: ChildProcess[];
}

export async function makeNode(tag: string): Promise<Node> {
  const ns = `${TAG}${tag}`;
  const node: Node = { ns, client: `${ns}c`, server: `${ns}s`, servers: [] };
  for (const n of [node.ns, node.client, node.server]) {
    sh(['ip', 'netns', 'add', n]);
    namespaces.add(n);
    sh(nsx(n, ['ip', 'link', 'set', 'lo', 'up']));
  }
  const inNode = (argv: string[]): string => sh(nsx(ns, argv));
  // TIME_WAIT conntrack entries for 10 s, not 120: a paired connections/s phase opens ~40,000
  // connections per 2 s sample on each node, and at 120 s the node's table would pass
  // nf_conntrack_max (262,144 here) and drop SYNs mid-phase. The same on every proxy's node.
  for (const s of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait=10']) inNode(['sysctl', '-qw', s]);
  inNode(['ip', 'link', 'add', 'svu0', 'type', 'veth', 'peer', 'name', 'svu1']);
  inNode(['ip', 'addr', 'add', `${NODE_IP}/24`, 'dev', 'svu0']);
  inNode(['ip', 'link', 'set', 'svu0', 'up']);
  inNode(['ip', 'link', 'set', 'svu1', 'up']);
  const pod = (pns: string, hostIf: string, ips: string[]): void => {
    inNode(['ip', 'link', 'add', hostIf, 'address', 'ee:ee:ee:ee:ee:ee', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pns]);
    inNode(['ip', 'link', 'set', hostIf, 'up']);
    const p = (argv: string[]): string => sh(nsx(pns, argv));
    for (const ip of ips) {
      p(['ip', 'addr', 'add', `${ip}/32`, 'dev', 'eth0']);
      inNode(['ip', 'route', 'add', `${ip}/32`, 'dev', hostIf]);
    }
    p(['ip', 'link', 'set', 'eth0', 'up']);
    const mac = (JSON.parse(p(['ip', '-j', 'link', 'show', 'eth0'])) as { address: string }[])[0]!.address;
    for (const ip of ips) inNode(['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', hostIf, 'nud', 'permanent']);
    p(['ip', 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
    p(['ip', 'neigh', 'add', '169.254.1.1', 'lladdr', 'ee:ee:ee:ee:ee:ee', 'dev', 'eth0', 'nud', 'permanent']);
    p(['ip', 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0', 'src', ips[0]!]);
  };
  pod(node.client, 'svhc', [CLIENT]);
  pod(node.server, 'svhs', SERVERS);
  sh(nsx(node.client, ['sysctl', '-qw', 'net.ipv4.ip_local_port_range=10000 64999']));
  // Servers on CPU 1, clients on CPU 0 (measure.ts): on two CPUs the scheduler otherwise puts both
  // on one in some samples and not in others, and a 2 s sample moves by a third.
  const srv = start(nsx(node.server, ['taskset', '-c', SERVER_CPU, CRR, 'serve', '8080']));
  await firstLine(srv);
  node.servers.push(srv, start(nsx(node.server, ['iperf3', '-s', '-p', '5201', '-A', SERVER_CPU])));
  return node;
}

export async function dropNode(n: Node | undefined): Promise<void> {
  if (!n) return;
  for (const s of n.servers) await stop(s);
  for (const x of [n.ns, n.client, n.server]) {
    sh(['ip', 'netns', 'del', x], true);
    namespaces.delete(x);
  }
}

import type { Command } from 'commander';
import { Agent } from '../agent/agent.js';
import { readConfigFile, validateConfig, type AgentConfig } from '../agent/config.js';
import { NodeLifecycle } from '../agent/node-lifecycle.js';
import { ETCD_PASSWORD_ENV } from '../datastore/index.js';
import { describeError } from '../util/errors.js';
import { rootLogger, setLogFormat, setLogLevel } from '../util/log.js';

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`"${v}" is not an integer`);
  return n;
}

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('run the per-node agent (programs pod networking; serves twill-cni on a unix socket)')
    .option('--node-name <name>', 'this node\'s name (Kubernetes node name)')
    .option('--pod-cidr <cidr>', 'standalone mode: the pod address range of this node')
    .option('--datastore <spec>', 'cluster mode: kubernetes, etcd:https://HOST:PORT[,…], etcd:http://HOST:PORT or etcd:unix:///PATH')
    .option('--etcd-ca-file <file>', 'etcd TLS: CA bundle that signed etcd\'s server certificate (default: system roots)')
    .option('--etcd-cert-file <file>', 'etcd TLS: client certificate to present')
    .option('--etcd-key-file <file>', 'etcd TLS: key of --etcd-cert-file (must be mode 0600, owned by root)')
    .option('--etcd-username <name>', 'etcd auth: user name (password from --etcd-password-file or TWILL_ETCD_PASSWORD)')
    .option('--etcd-password-file <file>', 'etcd auth: file holding the password (must be mode 0600, owned by root)')
    .option('--etcd-allow-plaintext', 'allow etcd:http:// to a non-loopback address (data and passwords in clear)')
    .option('--kubeconfig <file>', 'datastore kubernetes outside a pod: kubeconfig file (in a pod: its service account)')
    .option('--api-server <url>', 'datastore kubernetes in a pod: reach kube-apiserver at https://HOST:PORT, not through the kubernetes Service (needed with --kube-proxy-replacement)')
    .option('--kube-proxy-replacement', 'datastore kubernetes: serve Services (ClusterIP, NodePort, LoadBalancer IPs) so the cluster needs no kube-proxy (etcd: always on)')
    .option('--lease-namespace <ns>', 'datastore kubernetes: namespace of the node liveness Leases (default twill-system)')
    .option('--ipam <mode>', 'blocks (Twill\'s block pool, default) | kubernetes (the Node\'s spec.podCIDRs)')
    .option('--pool <cidr>', 'cluster pod pool, if the datastore has no cluster config yet (default 10.244.0.0/16)')
    .option('--block-prefix <n>', 'IPAM block size as a prefix length (default 26)', int)
    .option('--backend <name>', 'vxlan | host-gw, if the datastore has no cluster config yet (default vxlan)')
    .option('--vxlan-vni <n>', 'VXLAN network identifier (default 4096)', int)
    .option('--vxlan-port <n>', 'VXLAN UDP port (default 4789)', int)
    .option('--direct-routing', 'vxlan: plain routes to peers on the same L2 segment')
    .option('--no-nat-outgoing', 'do not masquerade pod traffic leaving the pool')
    .option('--encryption <mode>', 'none | wireguard: encrypt pod traffic between nodes, if the datastore has no cluster config yet (default none)')
    .option('--wireguard-port <n>', 'UDP port of the WireGuard device (default 51871)', int)
    .option('--no-wireguard-strict', 'wireguard: let pod traffic to a peer without a working tunnel go in clear instead of dropping it')
    .option('--wireguard-node-traffic', 'wireguard: also route traffic to other nodes\' own addresses (pod → node replies) through the tunnel; node → remote-pod traffic is always encrypted')
    .option('--block-grace <seconds>', 'how long a dead node\'s blocks stay reserved (default 600)', int)
    .option('--lease-ttl <seconds>', 'node liveness lease TTL (default 20)', int)
    .option('--state-audit <seconds>', 'check the state files against what the agent holds every N seconds; a damaged one is quarantined and rewritten (default 30; 0: off)', int)
    .option('--underlay-iface <name>', 'interface other nodes reach this one through (default: with datastore kubernetes the one holding the Node\'s InternalIP, else the default route\'s)')
    .option('--state-dir <dir>', 'where IPAM records and attachments are kept (default /var/lib/twill)')
    .option('--socket <path>', 'API socket for twill-cni and the CLI (default /run/twill/agent.sock)')
    .option('--run-dir <dir>', 'runtime files, e.g. nftables scripts (default /run/twill)')
    .option('--mtu <n>', 'pod MTU (default: underlay MTU minus backend overhead)', int)
    .option('--no-flow-records', 'do not record flows (conntrack events and NFLOG from the policy table)')
    .option('--flow-ring-size <n>', 'flow records kept per agent (default 16384)', int)
    .option('--flow-log-group <n>', 'NFLOG group of the policy table\'s log rules (default 100)', int)
    .option('--flow-log-rate <n>', 'packets per second each log rule hands to the agent (default 5000)', int)
    .option('--metrics-addr <host:port>', 'serve Prometheus metrics on http://HOST:PORT/metrics (default: off)')
    .option('--cni-conf-dir <dir>', 'write Twill\'s conflist into this CNI conf dir once the agent can serve ADD (e.g. /etc/cni/net.d)')
    .option('--health-port <n>', 'serve /healthz and /readyz on 127.0.0.1:PORT for the kubelet\'s probes', int)
    .option('--owner-daemonset <ns/name>', 'in a DaemonSet pod: the DaemonSet; when it (or its namespace) is deleted, SIGTERM removes Twill from the node')
    .option('--config <file>', 'config file (JSON or YAML); flags win over it')
    .option('--log-level <level>', 'debug | info | warn | error')
    .option('--log-format <format>', 'text | json')
    .addHelpText(
      'after',
      '\netcd over TLS (etcd started with --client-cert-auth --trusted-ca-file … --cert-file … --key-file …):\n' +
        '  twill agent --node-name n1 --datastore etcd:https://10.0.0.5:2379,https://10.0.0.6:2379 \\\n' +
        '    --etcd-ca-file /etc/twill/etcd-ca.crt --etcd-cert-file /etc/twill/etcd-client.crt \\\n' +
        '    --etcd-key-file /etc/twill/etcd-client.key\n' +
        '  Plaintext etcd:http:// is refused unless the host is loopback or --etcd-allow-plaintext is given.\n' +
        '  Config file keys: etcdCaFile, etcdCertFile, etcdKeyFile, etcdUsername, etcdPasswordFile, etcdAllowPlaintext.\n' +
        '\nEnvironment:\n  TWILL_LOG_LEVEL, TWILL_LOG_FORMAT  defaults for --log-level and --log-format\n' +
        '  TWILL_ETCD_PASSWORD               etcd password for --etcd-username when no --etcd-password-file is given\n' +
        '  TWILL_NETNS_EXEC=1                configure pod namespaces by running `ip` inside them instead of\n' +
        '                                    entering them with setns(2) (slower; the automatic fallback)\n' +
        '  TWILL_POLICY_NETLINK=0            send every policy update with `nft -f` instead of incremental\n' +
        '                                    ones as nf_tables netlink batches (slower on large tables)\n' +
        '  TWILL_WIREGUARD=kernel|userspace  force a WireGuard implementation (default: the kernel module when\n' +
        '                                    present, else wireguard-go)\n' +
        '  TWILL_WIREGUARD_GO=PATH           the wireguard-go binary (default: the pinned build in\n' +
        '                                    /var/cache/twill/externals, else PATH)\n',
    )
    .action(async (opts: Record<string, unknown>) => {
      let cfg: AgentConfig;
      try {
        const fromFile = typeof opts['config'] === 'string' ? readConfigFile(opts['config']) : {};
        const flags: Partial<AgentConfig> = {};
        const rename: Record<string, keyof AgentConfig> = { blockGrace: 'blockGraceSeconds', leaseTtl: 'leaseTtlSeconds', stateAudit: 'stateAuditSeconds', ownerDaemonset: 'ownerDaemonSet' };
        for (const k of ['nodeName', 'podCidr', 'datastore', 'etcdCaFile', 'etcdCertFile', 'etcdKeyFile', 'etcdUsername', 'etcdPasswordFile', 'etcdAllowPlaintext', 'kubeconfig', 'apiServer', 'kubeProxyReplacement', 'leaseNamespace', 'ipam', 'pool', 'blockPrefix', 'backend', 'vxlanVni', 'vxlanPort', 'directRouting', 'natOutgoing', 'blockGrace', 'leaseTtl', 'stateAudit', 'underlayIface', 'stateDir', 'socket', 'runDir', 'mtu', 'logLevel', 'logFormat', 'encryption', 'wireguardPort', 'wireguardStrict', 'wireguardNodeTraffic', 'cniConfDir', 'healthPort', 'ownerDaemonset', 'flowRecords', 'flowRingSize', 'flowLogGroup', 'flowLogRate', 'metricsAddr']) {
          // commander sets natOutgoing=true by default for --no-nat-outgoing; only an explicit flag counts.
          if ((k === 'natOutgoing' || k === 'flowRecords' || k === 'wireguardStrict') && opts[k] !== false) continue;
          if (opts[k] !== undefined) (flags as Record<string, unknown>)[rename[k] ?? k] = opts[k];
        }
        cfg = validateConfig({ ...fromFile, ...flags });
      } catch (e) {
        console.error(`twill agent: ${describeError(e)}`);
        process.exit(2);
      }
      setLogLevel(cfg.logLevel);
      setLogFormat(cfg.logFormat);
      const log = rootLogger.child('agent', { node: cfg.nodeName });
      const lifecycle = new NodeLifecycle(cfg, log);
      let agent: Agent | undefined;
      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) return;
        stopping = true;
        log.info('stopping', { signal: sig });
        void lifecycle.stop(agent).finally(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      try {
        await lifecycle.begin();
        agent = await Agent.create(cfg, log);
        // Read once into the store; the tools the agent runs (ip, nft) need not inherit it.
        delete process.env[ETCD_PASSWORD_ENV];
      } catch (e) {
        log.error('agent failed to start', { error: describeError(e) });
        process.exit(1);
      }
      try {
        await agent.start();
        await lifecycle.started(agent);
      } catch (e) {
        log.error('agent failed to start', { error: describeError(e) });
        process.exit(1);
      }
    });
}

// Agent configuration: defaults < config file (JSON or YAML) < command-line flags.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_AGENT_SOCKET, DEFAULT_RUN_DIR, DEFAULT_STATE_DIR, DEFAULT_WIREGUARD_PORT } from '../dataplane/kernel/names.js';
import { TwillError } from '../util/errors.js';
import { isCidr, parseCidr } from '../util/ip.js';
import { describeError } from '../util/errors.js';
import { isBackendName } from '../dataplane/routing/registry.js';
import { validatePool } from '../ipam/cluster/pool.js';
import type { BackendName, EncryptionMode } from '../model/types.js';
import { ETCD_PASSWORD_ENV, type EtcdSecurityOptions } from '../datastore/index.js';

export interface AgentConfig {
  nodeName: string;
  /** Standalone mode: this node's pod CIDR (no datastore, no routing to other nodes). */
  podCidr?: string;
  /** Cluster mode: the datastore ("kubernetes", "etcd:https://HOST:PORT", "etcd:http://HOST:PORT", "etcd:unix:///path"). */
  datastore?: string;
  /** etcd over TLS: CA bundle the server certificate must chain to (default: system roots). */
  etcdCaFile?: string;
  /** etcd over TLS: client certificate and its key (the key readable by root only). */
  etcdCertFile?: string;
  etcdKeyFile?: string;
  /** etcd auth: user name; the password from etcdPasswordFile or TWILL_ETCD_PASSWORD. */
  etcdUsername?: string;
  etcdPasswordFile?: string;
  /** Allow plaintext etcd to a non-loopback address. */
  etcdAllowPlaintext?: boolean;
  /** datastore kubernetes outside a pod: the kubeconfig file (in a pod: the service account). */
  kubeconfig?: string;
  /**
   * datastore kubernetes in a pod: reach kube-apiserver at this https://HOST:PORT rather than at
   * the `kubernetes` Service address the kubelet hands the pod. Needed with kubeProxyReplacement,
   * where nothing translates that address until the agent itself runs. Empty = unset.
   */
  apiServer?: string;
  /**
   * datastore kubernetes: Twill serves Services (ClusterIP, NodePort, LoadBalancer IPs, traffic
   * policies, affinity) so the cluster needs no kube-proxy. Off by default: kube-proxy keeps them.
   * etcd and memory datastores always serve Services (they have no kube-proxy).
   */
  kubeProxyReplacement: boolean;
  /** datastore kubernetes: the namespace of Twill's liveness Leases. */
  leaseNamespace: string;
  /**
   * Where pod addresses come from: `blocks` (Twill's block pool, claimed as IPAMBlocks) or
   * `kubernetes` (this Node's spec.podCIDRs, from kube-controller-manager --allocate-node-cidrs).
   */
  ipam: 'blocks' | 'kubernetes';
  /** Cluster bootstrap settings, used only when the datastore holds no ClusterConfig yet. */
  pool: string;
  blockPrefix: number;
  backend: BackendName;
  vxlanVni: number;
  vxlanPort: number;
  directRouting: boolean;
  natOutgoing: boolean;
  blockGraceSeconds: number;
  /** Cluster bootstrap: transparent encryption of pod traffic between nodes. */
  encryption: EncryptionMode;
  wireguardPort: number;
  /** Drop pod traffic to other nodes rather than send it in clear (default on). */
  wireguardStrict: boolean;
  /** Also encrypt node ↔ remote-pod traffic. */
  wireguardNodeTraffic: boolean;
  /** Seconds without keep-alive after which peers consider this node gone. */
  leaseTtlSeconds: number;
  /** Every N seconds the agent checks its state files against what it holds (0: never). */
  stateAuditSeconds: number;
  /** Interface other nodes reach this node through (default: the default route's). */
  underlayIface?: string;
  stateDir: string;
  socket: string;
  runDir: string;
  /** Pod MTU; default: the underlay MTU minus the backend's overhead. */
  mtu?: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  logFormat: 'text' | 'json';
  /** Flow records (cluster mode): conntrack events and NFLOG from the policy table. */
  flowRecords: boolean;
  /** Records the agent keeps (a ring: the oldest go first, counted). */
  flowRingSize: number;
  /** NFLOG group of the policy table's log rules (one per network namespace). */
  flowLogGroup: number;
  /** Packets per second each log rule passes to the agent (and a burst of the same size). */
  flowLogRate: number;
  /** Prometheus metrics on HOST:PORT (off when unset). */
  metricsAddr?: string;
  /** Write Twill's conflist here once the agent can serve ADD (off by default: the lab's runtime needs none). */
  cniConfDir?: string;
  /** Serve /healthz and /readyz on 127.0.0.1:PORT for the kubelet's probes. */
  healthPort?: number;
  /** NAMESPACE/NAME of the DaemonSet running this agent: its deletion makes SIGTERM an uninstall. */
  ownerDaemonSet?: string;
}

export const CONFIG_DEFAULTS: Omit<AgentConfig, 'nodeName'> = {
  leaseNamespace: 'twill-system',
  kubeProxyReplacement: false,
  ipam: 'blocks',
  pool: '10.244.0.0/16',
  blockPrefix: 26,
  backend: 'vxlan',
  vxlanVni: 4096,
  vxlanPort: 4789,
  directRouting: false,
  natOutgoing: true,
  blockGraceSeconds: 600,
  encryption: 'none',
  wireguardPort: DEFAULT_WIREGUARD_PORT,
  wireguardStrict: true,
  wireguardNodeTraffic: false,
  leaseTtlSeconds: 20,
  stateAuditSeconds: 30,
  stateDir: DEFAULT_STATE_DIR,
  socket: DEFAULT_AGENT_SOCKET,
  runDir: DEFAULT_RUN_DIR,
  logLevel: (process.env['TWILL_LOG_LEVEL'] as AgentConfig['logLevel'] | undefined) ?? 'info',
  logFormat: process.env['TWILL_LOG_FORMAT'] === 'json' ? 'json' : 'text',
  flowRecords: true,
  flowRingSize: 16_384,
  flowLogGroup: 100,
  flowLogRate: 5000,
};

const KEYS: Record<keyof AgentConfig, 'string' | 'number' | 'boolean'> = {
  nodeName: 'string',
  podCidr: 'string',
  datastore: 'string',
  etcdCaFile: 'string',
  etcdCertFile: 'string',
  etcdKeyFile: 'string',
  etcdUsername: 'string',
  etcdPasswordFile: 'string',
  etcdAllowPlaintext: 'boolean',
  kubeconfig: 'string',
  apiServer: 'string',
  kubeProxyReplacement: 'boolean',
  leaseNamespace: 'string',
  ipam: 'string',
  pool: 'string',
  blockPrefix: 'number',
  backend: 'string',
  vxlanVni: 'number',
  vxlanPort: 'number',
  directRouting: 'boolean',
  natOutgoing: 'boolean',
  blockGraceSeconds: 'number',
  encryption: 'string',
  wireguardPort: 'number',
  wireguardStrict: 'boolean',
  wireguardNodeTraffic: 'boolean',
  leaseTtlSeconds: 'number',
  stateAuditSeconds: 'number',
  underlayIface: 'string',
  stateDir: 'string',
  socket: 'string',
  runDir: 'string',
  mtu: 'number',
  logLevel: 'string',
  logFormat: 'string',
  flowRecords: 'boolean',
  flowRingSize: 'number',
  flowLogGroup: 'number',
  flowLogRate: 'number',
  metricsAddr: 'string',
  cniConfDir: 'string',
  healthPort: 'number',
  ownerDaemonSet: 'string',
};

export function readConfigFile(path: string): Partial<AgentConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TwillError('CONFIG_INVALID', `cannot read config file ${path}`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) as unknown;
  } catch (e) {
    throw new TwillError('DECODE', `config file ${path} is neither JSON nor YAML`, { cause: e });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TwillError('CONFIG_INVALID', `config file ${path} must hold a mapping of settings`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const want = KEYS[k as keyof AgentConfig];
    if (!want) throw new TwillError('CONFIG_INVALID', `config file ${path}: unknown setting "${k}" (known: ${Object.keys(KEYS).join(', ')})`);
    if (typeof v !== want) throw new TwillError('CONFIG_INVALID', `config file ${path}: "${k}" must be a ${want}`);
    out[k] = v;
  }
  return out as Partial<AgentConfig>;
}

export function validateConfig(c: Partial<AgentConfig>): AgentConfig {
  const cfg = { ...CONFIG_DEFAULTS, ...c } as AgentConfig;
  // The install's config file always carries the key; "" there means "not set".
  if (cfg.apiServer === '') delete cfg.apiServer;
  const bad = (field: string, why: string): never => {
    throw new TwillError('CONFIG_INVALID', `agent setting ${field}: ${why}`);
  };
  if (!cfg.nodeName) bad('--node-name', 'is required (the Kubernetes node name)');
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(cfg.nodeName)) bad('--node-name', `"${cfg.nodeName}" is not a valid node name (lower-case DNS subdomain)`);
  if ((cfg.podCidr === undefined) === (cfg.datastore === undefined)) {
    bad('--pod-cidr / --datastore', 'give exactly one: --pod-cidr for a standalone node, or --datastore to join a cluster');
  }
  if (cfg.datastore !== undefined && !/^(etcd:|memory$|kubernetes$)/.test(cfg.datastore)) bad('--datastore', `"${cfg.datastore}" is not kubernetes, etcd:https://HOST:PORT, etcd:http://HOST:PORT or etcd:unix:///PATH`);
  checkEtcdSettings(cfg, bad);
  if (cfg.kubeconfig !== undefined && cfg.datastore !== 'kubernetes') bad('--kubeconfig', 'only applies with --datastore kubernetes');
  if (cfg.apiServer !== undefined) {
    if (cfg.datastore !== 'kubernetes') bad('--api-server', 'only applies with --datastore kubernetes');
    if (cfg.kubeconfig !== undefined) bad('--api-server', 'conflicts with --kubeconfig (the kubeconfig names its server)');
    if (!/^https:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(cfg.apiServer)) bad('--api-server', `"${cfg.apiServer}" is not https://HOST[:PORT] (e.g. https://192.0.2.1:6443)`);
  }
  if (typeof cfg.kubeProxyReplacement !== 'boolean') bad('--kube-proxy-replacement', 'must be true or false');
  if (cfg.ipam !== 'blocks' && cfg.ipam !== 'kubernetes') bad('--ipam', `"${String(cfg.ipam)}" is not blocks or kubernetes`);
  if (cfg.ipam === 'kubernetes' && cfg.datastore !== 'kubernetes') bad('--ipam', 'kubernetes (Node podCIDRs) needs --datastore kubernetes');
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(cfg.leaseNamespace)) bad('--lease-namespace', `"${cfg.leaseNamespace}" is not a namespace name`);
  if (!isCidr(cfg.pool)) bad('--pool', `"${cfg.pool}" is not a CIDR`);
  if (!isBackendName(cfg.backend)) bad('--backend', `"${cfg.backend}" is not a backend (vxlan, host-gw)`);
  if (!Number.isInteger(cfg.vxlanVni) || cfg.vxlanVni < 1 || cfg.vxlanVni > 16_777_215) bad('--vxlan-vni', 'must be an integer 1..16777215');
  if (!Number.isInteger(cfg.vxlanPort) || cfg.vxlanPort < 1 || cfg.vxlanPort > 65535) bad('--vxlan-port', 'must be a port number');
  if (cfg.encryption !== 'none' && cfg.encryption !== 'wireguard') bad('--encryption', `"${String(cfg.encryption)}" is not an encryption mode (none, wireguard)`);
  if (!Number.isInteger(cfg.wireguardPort) || cfg.wireguardPort < 1 || cfg.wireguardPort > 65535) bad('--wireguard-port', 'must be a port number');
  if (cfg.encryption === 'wireguard' && cfg.wireguardPort === cfg.vxlanPort) bad('--wireguard-port', `must differ from the VXLAN port ${cfg.vxlanPort}`);
  if (!Number.isInteger(cfg.stateAuditSeconds) || cfg.stateAuditSeconds < 0) bad('--state-audit', 'must be a whole number of seconds (0 turns the check off)');
  if (!Number.isInteger(cfg.leaseTtlSeconds) || cfg.leaseTtlSeconds < 2) bad('--lease-ttl', 'must be an integer of at least 2 seconds');
  if (!Number.isInteger(cfg.blockGraceSeconds) || cfg.blockGraceSeconds < 0) bad('--block-grace', 'must be a non-negative integer (seconds)');
  try {
    validatePool({ pool: cfg.pool, blockPrefix: cfg.blockPrefix });
  } catch (e) {
    bad('--block-prefix', describeError(e));
  }
  if (cfg.podCidr !== undefined) {
    if (!isCidr(cfg.podCidr)) bad('--pod-cidr', `"${cfg.podCidr}" is not a CIDR (e.g. 10.244.1.0/24)`);
    const p = parseCidr(cfg.podCidr);
    if (p.family === 4 && p.prefix > 30) bad('--pod-cidr', `/${p.prefix} is too small for pods; use /30 or larger`);
  }
  if (cfg.mtu !== undefined && (!Number.isInteger(cfg.mtu) || cfg.mtu < 576 || cfg.mtu > 9000)) bad('--mtu', 'must be an integer between 576 and 9000');
  for (const [f, v] of [['--state-dir', cfg.stateDir], ['--socket', cfg.socket], ['--run-dir', cfg.runDir]] as const) {
    if (!v.startsWith('/')) bad(f, `must be an absolute path, got "${v}"`);
  }
  if (cfg.cniConfDir !== undefined && !cfg.cniConfDir.startsWith('/')) bad('--cni-conf-dir', `must be an absolute path, got "${cfg.cniConfDir}"`);
  if (cfg.healthPort !== undefined && (!Number.isInteger(cfg.healthPort) || cfg.healthPort < 1 || cfg.healthPort > 65535)) bad('--health-port', 'must be a port number (1..65535)');
  if (cfg.ownerDaemonSet !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(cfg.ownerDaemonSet)) {
    bad('--owner-daemonset', `"${cfg.ownerDaemonSet}" is not NAMESPACE/NAME (e.g. twill-system/twill)`);
  }
  if (!['debug', 'info', 'warn', 'error'].includes(cfg.logLevel)) bad('--log-level', 'must be debug, info, warn or error');
  if (!['text', 'json'].includes(cfg.logFormat)) bad('--log-format', 'must be text or json');
  if (!Number.isInteger(cfg.flowRingSize) || cfg.flowRingSize < 16 || cfg.flowRingSize > 1_000_000) bad('--flow-ring-size', 'must be an integer 16..1000000');
  if (!Number.isInteger(cfg.flowLogGroup) || cfg.flowLogGroup < 1 || cfg.flowLogGroup > 65535) bad('--flow-log-group', 'must be an NFLOG group 1..65535');
  if (!Number.isInteger(cfg.flowLogRate) || cfg.flowLogRate < 1 || cfg.flowLogRate > 1_000_000) bad('--flow-log-rate', 'must be an integer 1..1000000 (packets per second per rule)');
  if (cfg.metricsAddr !== undefined && !/^(\[[0-9a-fA-F:]+\]|[0-9.]+|[a-z0-9.-]+)?:\d{1,5}$/.test(cfg.metricsAddr)) bad('--metrics-addr', `"${cfg.metricsAddr}" is not HOST:PORT (e.g. 127.0.0.1:9962 or :9962)`);
  return cfg;
}

const ETCD_FILES = [
  ['--etcd-ca-file', 'etcdCaFile'],
  ['--etcd-cert-file', 'etcdCertFile'],
  ['--etcd-key-file', 'etcdKeyFile'],
  ['--etcd-password-file', 'etcdPasswordFile'],
] as const;

function checkEtcdSettings(cfg: AgentConfig, bad: (field: string, why: string) => never): void {
  const given = [...ETCD_FILES, ['--etcd-username', 'etcdUsername'] as const, ['--etcd-allow-plaintext', 'etcdAllowPlaintext'] as const].filter(([, k]) => cfg[k] !== undefined);
  if (given.length > 0 && !cfg.datastore?.startsWith('etcd:')) bad(given[0]![0], 'applies to an etcd datastore only (--datastore etcd:https://HOST:PORT)');
  for (const [flag, key] of ETCD_FILES) {
    const v = cfg[key];
    if (v !== undefined && !v.startsWith('/')) bad(flag, `must be an absolute path, got "${v}"`);
  }
}

/**
 * The etcd security options of a config. The password comes from the file or, failing that, from
 * TWILL_ETCD_PASSWORD in `env` (never a flag: flags show in `ps`); the file checks are done when
 * the store is opened.
 */
export function etcdSecurityOf(cfg: AgentConfig, env: NodeJS.ProcessEnv = process.env): EtcdSecurityOptions {
  const password = cfg.etcdPasswordFile === undefined ? env[ETCD_PASSWORD_ENV] : undefined;
  return {
    ...(cfg.etcdCaFile !== undefined && { caFile: cfg.etcdCaFile }),
    ...(cfg.etcdCertFile !== undefined && { certFile: cfg.etcdCertFile }),
    ...(cfg.etcdKeyFile !== undefined && { keyFile: cfg.etcdKeyFile }),
    ...(cfg.etcdUsername !== undefined && { username: cfg.etcdUsername }),
    ...(cfg.etcdPasswordFile !== undefined && { passwordFile: cfg.etcdPasswordFile }),
    ...(password !== undefined && password !== '' && { password }),
    ...(cfg.etcdAllowPlaintext && { allowPlaintext: true }),
  };
}

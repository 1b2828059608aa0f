// Twill's own kinds as CustomResourceDefinitions of the twill.dev group: the single source that
// deploy/ renders into twill.yaml and the test control plane installs. The OpenAPI schemas mirror
// src/model/types.ts; the apiserver then refuses malformed objects before any agent reads them.
// All three are cluster-scoped: they describe nodes, address blocks and the cluster, not workloads.

export const TWILL_GROUP = 'twill.dev';
export const TWILL_VERSION = 'v1alpha1';

type Schema = Record<string, unknown>;

const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const int = (minimum: number, maximum: number): Schema => ({ type: 'integer', minimum, maximum });
// Loose address shapes: the agent validates the exact syntax; the schema keeps out obvious junk.
const ipString = str({ maxLength: 45, pattern: '^[0-9a-fA-F:.]+$' });
const cidrString = str({ maxLength: 49, pattern: '^[0-9a-fA-F:.]+/[0-9]{1,3}$' });
const backend = str({ enum: ['vxlan', 'host-gw'] });

// Unknown fields are pruned by the apiserver (structural schemas), so no additionalProperties.
function object(properties: Record<string, Schema>, required: string[]): Schema {
  return { type: 'object', properties, required };
}

const TWILL_NODE_SPEC = object(
  {
    underlayIP: ipString,
    underlayCIDR: cidrString,
    backend,
    vtepMAC: str({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' }),
    vtepIP: ipString,
    blocks: { type: 'array', items: cidrString, maxItems: 4096 },
    podMTU: int(576, 65535),
    agentVersion: str({ maxLength: 64 }),
  },
  ['underlayIP', 'underlayCIDR', 'backend', 'blocks'],
);

const IPAM_BLOCK_SPEC = object(
  {
    cidr: cidrString,
    node: str({ minLength: 1, maxLength: 253 }),
    claimedAt: str({ maxLength: 64 }),
  },
  ['cidr', 'node', 'claimedAt'],
);

const CLUSTER_CONFIG_SPEC = object(
  {
    pool: cidrString,
    blockPrefix: int(1, 128),
    backend,
    vxlan: object({ vni: int(1, 16777215), port: int(1, 65535), directRouting: { type: 'boolean' } }, ['vni', 'port', 'directRouting']),
    natOutgoing: { type: 'boolean' },
    blockGraceSeconds: int(0, 86400 * 30),
  },
  ['pool', 'blockPrefix', 'backend', 'vxlan', 'natOutgoing', 'blockGraceSeconds'],
);

interface CrdDef {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  spec: Schema;
  columns: { name: string; type: string; jsonPath: string }[];
}

const DEFS: CrdDef[] = [
  {
    kind: 'TwillNode',
    plural: 'twillnodes',
    singular: 'twillnode',
    shortNames: ['tn'],
    spec: TWILL_NODE_SPEC,
    columns: [
      { name: 'Underlay', type: 'string', jsonPath: '.spec.underlayIP' },
      { name: 'Backend', type: 'string', jsonPath: '.spec.backend' },
      { name: 'Blocks', type: 'string', jsonPath: '.spec.blocks' },
    ],
  },
  {
    kind: 'IPAMBlock',
    plural: 'ipamblocks',
    singular: 'ipamblock',
    shortNames: ['tib'],
    spec: IPAM_BLOCK_SPEC,
    columns: [
      { name: 'CIDR', type: 'string', jsonPath: '.spec.cidr' },
      { name: 'Node', type: 'string', jsonPath: '.spec.node' },
    ],
  },
  {
    kind: 'ClusterConfig',
    plural: 'clusterconfigs',
    singular: 'clusterconfig',
    shortNames: ['tcc'],
    spec: CLUSTER_CONFIG_SPEC,
    columns: [
      { name: 'Pool', type: 'string', jsonPath: '.spec.pool' },
      { name: 'Backend', type: 'string', jsonPath: '.spec.backend' },
    ],
  },
];

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: Schema;
}

/** The CRD objects for Twill's kinds, in the order to apply them. */
export function twillCrds(): CustomResourceDefinition[] {
  return DEFS.map((d) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${d.plural}.${TWILL_GROUP}`, labels: { 'app.kubernetes.io/part-of': 'twill' } },
    spec: {
      group: TWILL_GROUP,
      scope: 'Cluster',
      names: { kind: d.kind, listKind: `${d.kind}List`, plural: d.plural, singular: d.singular, shortNames: d.shortNames, categories: ['twill'] },
      versions: [
        {
          name: TWILL_VERSION,
          served: true,
          storage: true,
          additionalPrinterColumns: [...d.columns, { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
          schema: { openAPIV3Schema: { type: 'object', properties: { apiVersion: str(), kind: str(), metadata: { type: 'object' }, spec: d.spec }, required: ['spec'] } },
        },
      ],
    },
  }));
}

/** CRD names (`<plural>.twill.dev`), for checks that they are installed and established. */
export function twillCrdNames(): string[] {
  return DEFS.map((d) => `${d.plural}.${TWILL_GROUP}`);
}

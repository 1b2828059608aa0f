// The agent's side of CNI: ADD, DEL, CHECK, GC, STATUS on behalf of the shim.
// ADD keeps an undo stack; DEL never fails for "already gone"; every decision about addresses
// goes through LocalIpam (serialised), every kernel change through dataplane/endpoint.
import type { CniRequest } from '../cni/api.js';
import type { CniResult } from '../cni/types.js';
import { encodeResult, parseCniArgs, parseNetConf, type NetConf } from '../cni/index.js';
import { addEndpoint, checkEndpoint, compileEndpoint, deleteEndpoint } from '../dataplane/endpoint/index.js';
import { hostVethName } from '../dataplane/kernel/names.js';
import { isNamespaceFile, netnsExists } from '../dataplane/kernel/netns.js';
import { ownerKey, type LocalIpam, type Owner } from '../ipam/local/index.js';
import { TwillError, describeError, isTwillError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { UndoStack } from '../util/undo.js';
import type { Problems } from './problems.js';
import type { InflightJournal } from './inflight.js';
import type { AttachmentStore} from './attachments.js';
import { type Attachment } from './attachments.js';

export interface CniServiceDeps {
  ipam: LocalIpam;
  attachments: AttachmentStore;
  log: Logger;
  /** Pod MTU when the network config does not set one. */
  mtu: () => number;
  /** Whether ADD can be served (for STATUS beyond IPAM): undefined = yes, else the reason. */
  unavailable?: () => string | undefined;
  /** Whether IPAM can claim another block when the current ones are full. */
  canGrow?: () => boolean;
  /**
   * Called after an attachment is added or removed (policy follows pods). ADD waits for it and
   * fails (undone) when it throws, so a pod's first packet already meets its policy and
   * anti-spoofing entry.
   */
  onChange?: (a: Attachment, change: 'added' | 'removed') => Promise<void> | void;
  /** Faults that outlast one request (the state directory not writable) are shown here. */
  problems?: Problems;
  /** Names the ADD/DEL/GC in flight, so a restart after a kill can say which it interrupted. */
  journal?: InflightJournal;
}

function need(v: string | undefined, name: string): string {
  if (!v) throw new TwillError('ENV_INVALID', `${name} is required`);
  return v;
}

export class CniService {
  constructor(private readonly d: CniServiceDeps) {}

  async handle(req: CniRequest): Promise<unknown> {
    const conf = parseNetConf(req.config, req.command);
    switch (req.command) {
      case 'ADD':
        return this.journaled('ADD', `${req.containerId}/${req.ifname}`, () => this.add(req, conf));
      case 'DEL':
        return this.journaled('DEL', `${req.containerId}/${req.ifname}`, () => this.del(req, conf));
      case 'CHECK':
        return this.check(req, conf);
      case 'GC':
        return this.journaled('GC', `network ${conf.name}`, () => this.gc(conf));
      case 'STATUS':
        return this.status();
    }
  }

  private async journaled<T>(op: 'ADD' | 'DEL' | 'GC', what: string, fn: () => Promise<T>): Promise<T> {
    const end = this.d.journal?.begin(op, what);
    try {
      return await fn();
    } finally {
      end?.();
    }
  }

  private owner(req: CniRequest): Owner {
    return { containerId: need(req.containerId, 'CNI_CONTAINERID'), ifname: need(req.ifname, 'CNI_IFNAME') };
  }

  private async add(req: CniRequest, conf: NetConf): Promise<unknown> {
    const owner = this.owner(req);
    const netns = need(req.netns, 'CNI_NETNS');
    if (!netnsExists(netns)) {
      throw new TwillError('CONTAINER_UNKNOWN', `network namespace ${netns} does not exist (was the sandbox removed?)`);
    }
    if (!isNamespaceFile(netns)) {
      throw new TwillError(
        'ENV_INVALID',
        `CNI_NETNS ${netns} exists but is not a network namespace as this agent sees it; pass a namespace bind mount (such as /var/run/netns/NAME) or /proc/PID/ns/net, created where the agent's mount namespace can see it`,
      );
    }
    const existing = this.d.attachments.get(owner);
    if (existing) {
      if (existing.netns !== netns) {
        throw new TwillError('EXISTS', `${ownerKey(owner)} is already attached in ${existing.netns}; DEL it first`);
      }
      return encodeResult(compileEndpoint({ ...existing }).result, conf.cniVersion);
    }
    const k8s = parseCniArgs(req.args ?? '');
    const podNs = k8s.get('K8S_POD_NAMESPACE');
    const podName = k8s.get('K8S_POD_NAME');
    const podUid = k8s.get('K8S_POD_UID');
    const pod = podNs && podName ? { namespace: podNs, name: podName, ...(podUid ? { uid: podUid } : {}) } : undefined;
    const t0 = performance.now();
    const steps: Record<string, number> = {};
    const lap = (name: string, since: number) => (steps[name] = +(performance.now() - since).toFixed(2));
    const undo = new UndoStack();
    try {
      let t = performance.now();
      const ip = await this.d.ipam.allocate(owner);
      undo.push(`release ${ip}`, () => this.d.ipam.release(owner));
      lap('ipam', t);
      const mtu = conf.mtu ?? this.d.mtu();
      const plan = compileEndpoint({ ...owner, netns, ips: [ip], mtu });
      t = performance.now();
      await addEndpoint(plan, undo, lap);
      const att: Attachment = {
        ...owner, netns, network: conf.name, ips: [ip], mtu, hostIface: plan.hostIface, pod, createdAt: new Date().toISOString(),
      };
      t = performance.now();
      this.d.attachments.save(att);
      undo.push('forget the attachment record', async () => {
        this.d.attachments.remove(owner);
        await this.d.onChange?.(att, 'removed');
      });
      lap('record', t);
      t = performance.now();
      // Policy follows pods: ADD succeeds only once the pod's policy is confirmed in the kernel.
      await this.d.onChange?.(att, 'added');
      lap('policy', t);
      undo.commit();
      this.d.problems?.clear('state-write', 'the state directory is writable again');
      this.d.log.info('ADD', { attachment: ownerKey(owner), ip, iface: plan.hostIface, pod: pod ? `${pod.namespace}/${pod.name}` : undefined, ms: +(performance.now() - t0).toFixed(1) });
      this.d.log.debug('ADD timing', { attachment: ownerKey(owner), ...steps });
      return encodeResult(plan.result, conf.cniVersion);
    } catch (e) {
      const leftovers = await undo.unwind();
      if (isTwillError(e, 'IO')) {
        this.d.problems?.report('state-write', 'error', 'cannot write the agent state directory (disk full?); ADDs fail (undone) until it can', { attachment: ownerKey(owner), error: describeError(e) });
      }
      this.d.log.warn('ADD failed, undone', { attachment: ownerKey(owner), error: describeError(e), undoFailures: leftovers.length ? leftovers : undefined });
      if (leftovers.length) {
        throw new TwillError('INTERNAL', `${describeError(e)}; and undo left state behind: ${leftovers.join('; ')}`, { cause: e });
      }
      throw e;
    }
  }

  /** Removes one attachment completely. Safe to call for anything, any number of times. */
  async remove(owner: Owner, netns?: string): Promise<Attachment | undefined> {
    const t0 = performance.now();
    const att = this.d.attachments.get(owner);
    await deleteEndpoint({ hostIface: att?.hostIface ?? hostVethName(owner.containerId, owner.ifname), netns: netns ?? att?.netns, ifname: owner.ifname });
    const t1 = performance.now();
    // Record first, address second: a crash in between leaves an unowned address record, which
    // start-up GC frees; the reverse order could leave a record pointing at a reused address.
    this.d.attachments.remove(owner);
    const ip = await this.d.ipam.release(owner);
    if (att || ip) this.d.log.info('DEL', { attachment: ownerKey(owner), ip, ms: +(performance.now() - t0).toFixed(1), kernelMs: +(t1 - t0).toFixed(1) });
    if (att) await this.d.onChange?.(att, 'removed');
    return att;
  }

  private async del(req: CniRequest, _conf: NetConf): Promise<undefined> {
    await this.remove(this.owner(req), req.netns);
    return undefined;
  }

  private async check(req: CniRequest, conf: NetConf): Promise<undefined> {
    const owner = this.owner(req);
    const netns = need(req.netns, 'CNI_NETNS');
    if (!netnsExists(netns)) throw new TwillError('CONTAINER_UNKNOWN', `network namespace ${netns} does not exist`);
    const att = this.d.attachments.get(owner);
    if (!att) throw new TwillError('CHECK_FAILED', `no attachment ${ownerKey(owner)} on this node (ADD it first)`);
    // A record rebuilt from the kernel does not know the netns (''): the interface check below decides.
    if (att.netns !== '' && att.netns !== netns) throw new TwillError('CHECK_FAILED', `${ownerKey(owner)} is attached in ${att.netns}, not ${netns}`);
    const plan = compileEndpoint(att);
    checkPrevResult(conf.prevResult, plan.result, att);
    if (this.d.ipam.lookup(owner) !== att.ips[0]) {
      throw new TwillError('CHECK_FAILED', `the address record for ${ownerKey(owner)} does not match ${att.ips.join(', ')}`);
    }
    await checkEndpoint(plan);
    return undefined;
  }

  private async gc(conf: NetConf): Promise<undefined> {
    // No list is not an empty list: without one, only addresses no attachment owns are freed.
    const valid = conf.validAttachments && new Set(conf.validAttachments.map((v) => ownerKey({ containerId: v.containerID, ifname: v.ifname })));
    let removed = 0;
    for (const att of this.d.attachments.all()) {
      // A record rebuilt from the kernel does not know its network (''): the runtime's list is
      // then the only evidence, and a pod it does not list under this network is gone.
      if (!valid || (att.network !== conf.name && att.network !== '') || valid.has(ownerKey(att))) continue;
      await this.remove(att);
      removed++;
    }
    const keep = new Set(this.d.attachments.all().map((a) => ownerKey(a)));
    // Addresses of live attachments stay even when their address record is unreadable.
    const freed = await this.d.ipam.gc(keep, new Set(this.d.attachments.all().flatMap((a) => a.ips)));
    this.d.log.info('GC', { network: conf.name, valid: valid?.size ?? 'no list', removedAttachments: removed, freedAddresses: freed.length });
    return undefined;
  }

  private status(): undefined {
    const why = this.d.unavailable?.();
    if (why) throw new TwillError('TRY_AGAIN', why);
    if (!this.d.ipam.hasFree() && !(this.d.canGrow?.() ?? false)) {
      throw new TwillError('IPAM_EXHAUSTED', `no free pod address on this node (${this.d.ipam.stats().blocks.join(', ')})`);
    }
    return undefined;
  }
}

/** CHECK: the runtime's prevResult must still describe what we created. */
function checkPrevResult(prev: CniResult | undefined, ours: CniResult, att: Attachment): void {
  if (!prev) return;
  const problems: string[] = [];
  const prevIps = new Set((prev.ips ?? []).map((i) => i.address));
  for (const ip of ours.ips ?? []) if (!prevIps.has(ip.address)) problems.push(`prevResult lacks address ${ip.address}`);
  const names = new Set((prev.interfaces ?? []).map((i) => i.name));
  if (!names.has(att.ifname)) problems.push(`prevResult lacks interface ${att.ifname}`);
  if (problems.length) throw new TwillError('CHECK_FAILED', problems.join('; '));
}

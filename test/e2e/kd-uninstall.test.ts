// Uninstall against update, end to end: kube-apiserver, deploy/'s objects, an agent in Kubernetes
// mode with the DaemonSet's flags, a pod wired by twill-cni — all inside a node namespace made here
// (kd-uninstall/inside.ts). A SIGTERM while the DaemonSet exists changes nothing in the kernel; after
// the DaemonSet is deleted it leaves no conflist, link, route or nftables table of Twill's. Needs
// root, `make build` and kube-apiserver (scripts/externals/build.sh kubernetes).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, test } from 'node:test';
import { kubeBinary } from '../../src/datastore/kubernetes/testing/control-plane.js';
import { TestScope, uniqueName } from '../support/scope.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root' : !existsSync(kubeBinary('kube-apiserver')) ? `${kubeBinary('kube-apiserver')} is not built (scripts/externals/build.sh kubernetes)` : false;
const scope = new TestScope();
after(() => scope.cleanup());

interface State { links: string[]; routes: string[]; tables: string[]; conflist: boolean }

test('kd uninstall removes everything Twill made on the node; an update before it removed nothing', { skip, timeout: 180_000 }, async () => {
  const node = await scope.netns('kd-un-');
  const dir = await scope.tmpdir('kd-un-');
  const pod = uniqueName('kd-unp-');
  const inside = new URL('./kd-uninstall/inside.ts', import.meta.url).pathname;
  const out = await new Promise<string>((resolve, reject) => {
    const child = execFile('nsenter', [`--net=${node.path}`, '--', process.execPath, '--import', 'tsx', inside, dir, pod], { maxBuffer: 16 << 20, timeout: 170_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${String(err)}\n${stderr.split('\n').slice(-40).join('\n')}`));
      else resolve(stdout);
    });
    scope.defer(() => void child.kill('SIGKILL'));
  });
  const r = JSON.parse(out.trim().split('\n').pop()!) as Record<string, State | number | null>;
  const installed = r['installed'] as State;
  assert.ok(installed.conflist, 'the agent wrote its conflist');
  assert.ok(installed.links.some((l) => l.startsWith('twl')), `a pod veth: ${installed.links.join(' ')}`);
  assert.ok(installed.routes.length > 0, 'Twill routes');
  assert.ok(installed.tables.length > 0, 'Twill nftables tables');
  assert.equal(r['updateExit'], 0);
  assert.deepEqual(r['afterUpdate'], installed, 'SIGTERM with the DaemonSet in place: nothing removed');
  assert.deepEqual((r['afterRestart'] as State).routes, installed.routes, 'the next agent changes no route');
  assert.equal(r['uninstallExit'], 0);
  assert.deepEqual(r['afterUninstall'], { links: [], routes: [], tables: [], conflist: false }, 'after the DaemonSet is deleted: nothing of Twill\'s is left');
});

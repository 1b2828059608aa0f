// The etcd3 library, loaded on first use. etcd3 and the gRPC stack beneath it add ~27 MB to a
// process's RSS the moment they load (a bare Node 40 MB, after loading etcd3 67 MB), and an agent
// on the kubernetes datastore never talks to etcd: only an EtcdConnection loads it. Every other
// file imports etcd3 for types only.
import { createRequire } from 'node:module';
import type * as Etcd3Module from 'etcd3';

type Etcd3Lib = typeof Etcd3Module;
type ErrorClass = 'EtcdLeaseInvalidError' | 'GRPCDeadlineExceededError' | 'EtcdAuthenticationFailedError' | 'EtcdPermissionDeniedError';

let lib: Etcd3Lib | undefined;

export function etcd3(): Etcd3Lib {
  return (lib ??= createRequire(import.meta.url)('etcd3') as Etcd3Lib);
}

/** `e instanceof` one of etcd3's error classes; false while etcd3 is not loaded (it threw nothing). */
export function isEtcd3Error(e: unknown, name: ErrorClass): boolean {
  return lib !== undefined && e instanceof lib[name];
}

export { type EtcdStoreOptions } from './connection.js';
export { DEFAULT_PREFIX } from './codec.js';
export { startEtcd, freePort, type EtcdServer, type EtcdServerOptions, type EtcdServerTls } from './server.js';
export { ETCD_PASSWORD_ENV, isLoopbackHost, type EtcdSecurityOptions } from './security.js';
export { EtcdStore } from './store.js';

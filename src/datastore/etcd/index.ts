export { type EtcdStoreOptions } from './connection.js';
export { DEFAULT_PREFIX } from './codec.js';
export { startEtcd, freePort, type EtcdServer, type EtcdServerOptions } from './server.js';
export { EtcdStore } from './store.js';

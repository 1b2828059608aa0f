// The only effectful seam to the kernel. Everything else compiles plain data and hands it here.
export * from './names.js';
export * from './netlink.js';
export * from './exec.js';
export * from './netns.js';
export * from './nft.js';
export * from './sysctl.js';
export * from './conntrack.js';

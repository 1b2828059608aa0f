// The CNI protocol's public face, for the agent: the wire contract, config parsing, result
// encoding and error numbers. The shim's entry is shim-main.ts (bundled separately).
export * from './types.js';
export * from './api.js';
export { parseNetConf, MTU_MIN, MTU_MAX, type NetConf, type IpamConf } from './config.js';
export { encodeResult, parseResult, negotiateVersion, isSupportedVersion, compareVersions, MIN_VERSION_FOR } from './version.js';
export { CNI_ERROR_CODES, cniErrorCode, toCniError, isErrorCode, type CniErrorResult } from './errors.js';
export { parseCniArgs, containerIdProblem, ifnameProblem, REQUIRED_ENV } from './env.js';
export { parseInvocation, runCni, toCniRequest, versionInfo, MAX_STDIN_BYTES, type Invocation, type CniIo } from './protocol.js';

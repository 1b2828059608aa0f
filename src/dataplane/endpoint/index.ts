export { compileEndpoint, podMac, type EndpointPlan, type EndpointSpec } from './compile.js';
export { addEndpoint, deleteEndpoint, checkEndpoint } from './apply.js';

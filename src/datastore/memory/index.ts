export { MemoryBackend, type MemoryBackendOptions } from './backend.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export { MemoryStore } from './store.js';

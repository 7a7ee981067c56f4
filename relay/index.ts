export { startRelay, type RelayOptions, type RunningRelay } from './server.js';

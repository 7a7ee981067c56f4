export * from './constants.js';
export * from './candidates.js';
export * from './filename.js';
export * from './wire.js';
export * from './progress.js';
export * from './scheduler.js';
export * from './state-machine.js';
export * from './machine.js';

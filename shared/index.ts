export * from './errors.js';
export * from './limits.js';
export * from './names.js';
export * from './codec.js';
export * from './messages.js';

export * from './credentials.js';
export * from './secure-channel.js';
export * from './framed-channel.js';
export * from './file-sink.js';
export * from './sessions.js';
export * from './port-mapping.js';
export * from './gather.js';
export * from './transfer.js';

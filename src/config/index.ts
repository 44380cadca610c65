/** The corosync.conf loader: parser, startup processing and file helpers. */
export * from './addr.js';
export * from './load.js';
export * from './logging.js';
export * from './parser.js';
export * from './totem.js';
export * from './values.js';

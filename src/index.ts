/**
 * The package's main entry (`corosync-ts`): the client library of `corosync-ts/client`, and
 * the release this is. The daemon and the tools are programs (`corosync-ts` and its
 * subcommands), not a library.
 */
export * from './client/index.js';
export { VERSION, COROSYNC_COMPAT_VERSION } from './version.js';

/** The corosync-ts release; the corosync version we are compatible with is 3.1.7. */
export const VERSION = '0.1.0';
export const COROSYNC_COMPAT_VERSION = '3.1.7';

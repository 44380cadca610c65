/**
 * The entry of the binary's bundle, dist/bundle/corosync-ts.js: main.ts without its `#!` line,
 * which esbuild would keep in front of the function wrapper the bundle is built inside
 * (code-cache.ts, WRAPPED_BUNDLE_HEAD).
 */
import './main.js';

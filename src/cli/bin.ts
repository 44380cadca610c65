#!/usr/bin/env -S node --single-threaded-gc --v8-pool-size=1 --expose-gc --max-semi-space-size=4
/**
 * The `corosync-ts` binary as it ships: dist/bundle/main.js, CommonJS (dist/bundle/package.json),
 * bundled from this file. It runs dist/bundle/corosync-ts.js, the CommonJS bundle of main.ts,
 * with V8's code cache (code-cache.ts), its text mapped from the file rather than read into the
 * JavaScript heap when the addon is built. Only for the bundle: `__dirname` and `require` are
 * CommonJS's.
 */
import { join } from 'node:path';
import { loadQbNative } from '../ipc/libqb/native.js';
import { runWithCodeCache } from './code-cache.js';

/** The bundle's text as an external string (the addon, loaded here once for the process). */
function mapSource(path: string): string | undefined {
  const load = loadQbNative();
  const text = load.ok ? load.native.mapFileLatin1?.(path) : undefined;
  return typeof text === 'string' ? text : undefined;
}

runWithCodeCache(join(__dirname, 'corosync-ts.js'), require, { readSource: mapSource });

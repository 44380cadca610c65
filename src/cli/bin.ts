#!/usr/bin/env -S node --single-threaded-gc --v8-pool-size=1 --expose-gc --max-semi-space-size=4
/**
 * The `corosync-ts` binary as it ships: dist/bundle/main.js, CommonJS (dist/bundle/package.json),
 * bundled from this file. It runs dist/bundle/corosync-ts.js, the CommonJS bundle of main.ts,
 * with V8's code cache (code-cache.ts). Only for the bundle: `__dirname` and `require` are
 * CommonJS's.
 */
import { join } from 'node:path';
import { runWithCodeCache } from './code-cache.js';

runWithCodeCache(join(__dirname, 'corosync-ts.js'), require);

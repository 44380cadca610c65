/**
 * Where the packet captures of real corosync 3.1.7 live: a copy is kept in the repo
 * (test/vectors, from the project's shared/vectors) so the golden tests run on every clean
 * clone; COROSYNC_TS_VECTORS points elsewhere for new captures.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from this compiled file (dist/test/helpers). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export function vectorsDir(): string {
  const fromEnv = process.env.COROSYNC_TS_VECTORS;
  if (fromEnv) return fromEnv;
  const inRepo = resolve(REPO_ROOT, 'test/vectors');
  if (existsSync(inRepo)) return inRepo;
  return resolve(REPO_ROOT, '../shared/vectors');
}

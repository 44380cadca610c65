// The package's entry points, resolved the way a user's `import` resolves them: through
// package.json's "main", "types" and "exports" (a package may import itself by its name).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface PackageJson {
  main: string;
  types: string;
  exports: Record<string, string>;
  bin: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

test('every file package.json names exists in the build', () => {
  const named = [pkg.main, ...Object.values(pkg.exports), ...Object.values(pkg.bin)];
  for (const file of named) {
    assert.ok(existsSync(join(ROOT, file)), `package.json names ${file}, which the build does not have`);
  }
});

// The declarations come from `npm run build` (tsconfig.types.json; `npm ci` runs it), which
// `npm test`'s own build does not run: without them this test is skipped, saying why.
const declarationsBuilt = existsSync(join(ROOT, 'dist', 'src', 'client', 'index.d.ts'));
test(
  'every entry package.json names has its declarations beside it',
  { skip: declarationsBuilt ? false : 'no declarations built (run `npm run build` first)' },
  () => {
    for (const file of [pkg.types, ...Object.values(pkg.exports).map((js) => js.replace(/\.js$/, '.d.ts'))]) {
      assert.ok(existsSync(join(ROOT, file)), `the declarations ${file} were not built`);
    }
  },
);

test("import 'corosync-ts' gives the client library and the release", async () => {
  // specifiers held in variables: tsc then leaves their resolution to Node, so this test builds
  // before the declarations it would otherwise need (tsconfig.types.json) exist
  const [mainName, clientName] = ['corosync-ts', 'corosync-ts/client'];
  const main = (await import(mainName)) as Record<string, unknown>;
  const client = (await import(clientName)) as Record<string, unknown>;
  assert.equal(typeof main.CpgHandle, 'function');
  assert.equal(typeof main.CmapHandle, 'function');
  assert.equal(main.COROSYNC_COMPAT_VERSION, '3.1.7');
  for (const name of Object.keys(client)) {
    assert.equal(main[name], client[name], `corosync-ts does not export ${name} as corosync-ts/client does`);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RUN_DIR_ENV,
  defaultRunDir,
  resolveDaemonRunDir,
  resolveRunDir,
  serviceSocketPath,
} from '../../src/common/rundir.js';

test('root uses /run/corosync-ts; other users XDG_RUNTIME_DIR, else a per-uid temp dir', () => {
  assert.equal(defaultRunDir({}, 0), '/run/corosync-ts');
  assert.equal(defaultRunDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), '/run/user/1000/corosync-ts');
  assert.match(defaultRunDir({}, 1000), /corosync-ts-1000$/);
});

test('clients: explicit option > environment > default', () => {
  assert.equal(resolveRunDir('/x', { [RUN_DIR_ENV]: '/y' }), '/x');
  assert.equal(resolveRunDir(undefined, { [RUN_DIR_ENV]: '/y' }), '/y');
  assert.equal(resolveRunDir(undefined, {}), defaultRunDir({}));
});

test('daemon: environment > system.run_dir > default', () => {
  assert.equal(resolveDaemonRunDir('/from-config', { [RUN_DIR_ENV]: '/from-env' }), '/from-env');
  assert.equal(resolveDaemonRunDir('/from-config', {}), '/from-config');
  assert.equal(resolveDaemonRunDir(undefined, {}), defaultRunDir({}));
});

test('one socket per service in the run directory', () => {
  assert.equal(serviceSocketPath('/run/corosync-ts', 'cmap'), '/run/corosync-ts/cmap.sock');
});

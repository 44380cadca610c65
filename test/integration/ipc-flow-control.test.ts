/**
 * The stream transport's flow-control frames: the level a server publishes reaches the client
 * in order with dispatches, never as a dispatch; connections opened while a service is
 * flow-controlled start flow-controlled; stats keep flow_control and flow_control_count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpcClientConnection } from '../../src/client/connection.js';
import { CmapHandle, CsDispatchFlags, CmapTrack, CmapValueType } from '../../src/client/index.js';
import { startIpcDaemon } from '../helpers/ipc-daemon.js';
import { waitFor } from '../helpers/daemon-process.js';

test('flow-control levels reach clients and new connections; stats count them', async () => {
  const d = await startIpcDaemon();
  try {
    const conn = await IpcClientConnection.connect('cmap', { runDir: d.runDir });
    const levels: number[] = [];
    conn.onFlowControl = (l) => levels.push(l);
    const server = d.server.connections().find((c) => c.serviceName === 'cmap')!;
    d.server.setFlowControl((name) => name === 'cmap', 2);
    await waitFor(() => conn.flowControlLevel === 2, 'level 2 at the client', 3000);
    assert.equal(server.stats.flowControl, 2);
    assert.equal(server.stats.flowControlCount, 1);

    // a connection opened now starts at level 2
    const late = await IpcClientConnection.connect('cmap', { runDir: d.runDir });
    await waitFor(() => late.flowControlLevel === 2, 'level 2 for a new connection', 3000);

    d.server.setFlowControl(() => true, 0);
    await waitFor(() => conn.flowControlLevel === 0 && late.flowControlLevel === 0, 'level 0', 3000);
    assert.deepEqual(levels, [2, 0]);
    assert.equal(d.server.flowControlLevel('cmap'), 0);
    await conn.close();
    await late.close();
  } finally {
    await d.close();
  }
});

test('flow-control frames are not dispatches and keep their place among them', async () => {
  const d = await startIpcDaemon();
  try {
    const h = await CmapHandle.initialize(0, { runDir: d.runDir });
    const seen: string[] = [];
    await h.trackAdd('fc.', CmapTrack.ADD | CmapTrack.PREFIX, (_h, _t, _e, key) => seen.push(key));
    d.icmap.setValue('fc.one', { type: CmapValueType.UINT8, value: 1 });
    d.server.setFlowControl(() => true, 2);
    d.icmap.setValue('fc.two', { type: CmapValueType.UINT8, value: 2 });
    d.server.setFlowControl(() => true, 0);
    await waitFor(() => h.pendingNotifications === 2, 'two notifications queued', 3000);
    await h.dispatch(CsDispatchFlags.ALL);
    assert.deepEqual(seen, ['fc.one', 'fc.two']);
    await h.finalize();
  } finally {
    await d.close();
  }
});

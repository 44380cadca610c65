/**
 * IpcServerOptions.beforeTotemRequest: called once a request the service marks
 * flow-control-required (the requests that multicast through totem) has been read, before the
 * service's checks and handler, and never for the other requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpcClientConnection } from '../../src/client/connection.js';
import { allocRequest, allocResponse, RESPONSE_HEADER_SIZE } from '../../src/ipc/frame.js';
import type { IpcServiceDefinition } from '../../src/ipc/server.js';
import { existsSync } from 'node:fs';
import { serviceSocketPath } from '../../src/common/rundir.js';
import { waitFor } from '../helpers/daemon-process.js';
import { startIpcDaemon } from '../helpers/ipc-daemon.js';

const SENDS = 1; // the request id marked flow-control-required
const QUERY = 0;

test('beforeTotemRequest runs before the handler of flow-control-required requests only', async () => {
  const order: string[] = [];
  const d = await startIpcDaemon({ beforeTotemRequest: () => order.push('hook') });
  try {
    const service: IpcServiceDefinition<undefined> = {
      name: 'fake',
      id: 99,
      requestCount: 2,
      checkRequest: (frame) => {
        order.push(`check ${frame.readInt32LE(0)}`);
        return undefined;
      },
      flowControlRequired: (id) => id === SENDS,
      init: () => undefined,
      handle: (conn, _s, frame) => {
        const id = frame.readInt32LE(0);
        order.push(`handle ${id}`);
        conn.respond(allocResponse(id, RESPONSE_HEADER_SIZE, 1));
      },
      exit: () => undefined,
    };
    // registered while the server listens: its endpoint is created in the background
    d.server.registerService(service);
    await waitFor(() => existsSync(serviceSocketPath(d.runDir, 'fake')), 'the fake service endpoint', 3000);
    const conn = await IpcClientConnection.connect('fake', { runDir: d.runDir });
    await conn.request(allocRequest(QUERY, 16));
    assert.deepEqual(order, ['check 0', 'handle 0']);
    order.length = 0;
    await conn.request(allocRequest(SENDS, 16));
    assert.deepEqual(order, ['hook', 'check 1', 'handle 1']);
    await conn.close();
  } finally {
    await d.close();
  }
});

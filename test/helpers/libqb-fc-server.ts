/**
 * A bare IPC server with only the cmap service and the libqb transport, driven over stdin, for
 * the libqb flow-control test (test/interop/libqb-flow-control.test.ts). Run inside a network
 * namespace (abstract socket names) with a private /dev/shm:
 *
 *   node libqb-fc-server.js <shm|socket>
 *
 * Prints "ready" once listening on @cmap. Commands on stdin, one per line, each answered by
 * echoing it: "fc <level>" sets the flow-control level of every connection (and of new ones),
 * "quit" closes everything and exits 0. The map holds test.fc.key = "value" (str).
 */
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Icmap, icmapIpcView } from '../../src/cmap/icmap.js';
import { CmapValueType } from '../../src/cmap/types.js';
import { IpcServer } from '../../src/ipc/server.js';
import { LibqbTransport } from '../../src/ipc/libqb/transport.js';
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import { createCmapService } from '../../src/services/cmap/service.js';

async function main(): Promise<void> {
  const type = process.argv[2] === 'socket' ? 'socket' : 'shm';
  const load = loadQbNative();
  if (!load.ok) throw new Error(load.reason);
  const icmap = new Icmap();
  icmap.setValue('test.fc.key', { type: CmapValueType.STRING, value: 'value' });
  const runDir = mkdtempSync(join(tmpdir(), 'cts-fc-'));
  const log = (m: string): void => void process.stderr.write(`${m}\n`);
  const server = new IpcServer({
    runDir,
    logger: { debug: () => undefined, info: log, warn: log, error: log },
  });
  server.registerService(createCmapService({ icmap: icmapIpcView(icmap) }));
  const transport = new LibqbTransport(server, { native: load.native, authorize: () => true, type });
  const names = await transport.listenAll(['cmap']);
  if (names.length !== 1) throw new Error('cannot listen on @cmap');
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'fc') server.setFlowControl(() => true, Number(arg));
    else if (cmd === 'quit') break;
    process.stdout.write(`${line.trim()}\n`);
  }
  await server.close();
  await transport.close();
  rmSync(runDir, { recursive: true, force: true });
  process.stdout.write('bye\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

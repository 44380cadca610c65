/** Shared set-up of the native UDP path tests (src/transport/udp-socket.ts, native-send.ts). */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { loadQbNative } from '../../src/ipc/libqb/native.js';

const load = loadQbNative();
/** `describe(..., { skip: nativeSkip })`: false, or why the addon is missing (printed once). */
export const nativeSkip: string | false = load.ok ? false : `native addon not built: ${load.reason}`;
if (nativeSkip) console.log(`# skipped: ${nativeSkip}`);

/** A UDP socket bound to an ephemeral port of `addr`. */
export async function boundUdp(type: 'udp4' | 'udp6', addr: string): Promise<Socket> {
  const s = createSocket(type);
  s.bind(0, addr);
  await once(s, 'listening');
  return s;
}

/** totem's native recvmmsg path (src/transport/native-recv.ts) receives what Node's dgram would. */
import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import { describe, it } from 'node:test';
import { NativeUdpReceiver } from '../../src/transport/native-recv.js';
import { boundUdp as bound, nativeSkip as skip } from '../helpers/native-udp.js';

describe('native UDP receive', { skip }, () => {
  it('takes over a socket: every datagram whole and in order, over several batches, with its source', async () => {
    const rx = await bound('udp4', '127.0.0.1');
    const tx = await bound('udp4', '127.0.0.1');
    const viaNode: Buffer[] = [];
    rx.on('message', (m) => viaNode.push(m));
    const got: Array<{ msg: Buffer; address: string; port: number }> = [];
    let want = 0;
    let reached: (() => void) | undefined;
    const receiver = NativeUdpReceiver.attach(
      rx,
      (msg, address, port) => {
        got.push({ msg, address, port });
        if (got.length === want) reached?.();
      },
      () => assert.fail('no receive error expected'),
    );
    assert.ok(receiver, 'the native path attaches to an IPv4 socket');
    /** Send a group at once and wait until all of it arrived (the socket buffer is ~200 KB). */
    const sendGroup = async (group: Buffer[]): Promise<void> => {
      want = got.length + group.length;
      const arrived = new Promise<void>((r) => (reached = r));
      for (const b of group) tx.send(b, rx.address().port, '127.0.0.1');
      await arrived;
    };
    const sent: Buffer[] = [];
    const groups = [
      // 150 small ones queued at once: more than one recvmmsg batch of 64
      Array.from({ length: 150 }, (_, i) => Buffer.alloc(100, i & 0xff)),
      [Buffer.alloc(65507, 9)], // the largest UDP payload fits a slot
      Array.from({ length: 40 }, (_, i) => Buffer.alloc(1 + ((i * 97) % 1500), i)),
    ];
    for (const g of groups) {
      sent.push(...g);
      await sendGroup(g);
    }
    assert.equal(viaNode.length, 0, "Node's own receiving is stopped");
    assert.deepEqual(
      got.map((g) => g.msg),
      sent,
    );
    assert.ok(got.every((g) => g.address === '127.0.0.1' && g.port === tx.address().port));
    // each datagram owns its bytes: later batches do not overwrite earlier ones
    assert.ok(got[0]!.msg.every((b) => b === 0));
    receiver.close();
    // the socket itself still sends (its own descriptor) and closes normally
    await new Promise<void>((r) => rx.send(Buffer.from('x'), tx.address().port, '127.0.0.1', () => r()));
    rx.close();
    tx.close();
  });

  it('leaves IPv6 sockets to Node', async (t) => {
    let rx: Socket;
    try {
      rx = await bound('udp6', '::1');
    } catch (err) {
      t.skip(`::1 not available: ${(err as Error).message}`);
      return;
    }
    assert.equal(
      NativeUdpReceiver.attach(
        rx,
        () => undefined,
        () => undefined,
      ),
      undefined,
    );
    rx.close();
  });
});

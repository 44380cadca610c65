/** totem's native sendto path (src/transport/native-send.ts) delivers what Node's dgram would. */
import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import { describe, it } from 'node:test';
import { NativeUdpSender } from '../../src/transport/native-send.js';
import { boundUdp as bound, nativeSkip as skip } from '../helpers/native-udp.js';

describe('native UDP send', { skip }, () => {
  for (const [type, addr] of [
    ['udp4', '127.0.0.1'],
    ['udp6', '::1'],
  ] as const) {
    it(`${type}: datagrams arrive whole, in order, from the sending socket's port`, async (t) => {
      let rx: Socket, tx: Socket;
      try {
        rx = await bound(type, addr);
        tx = await bound(type, addr);
      } catch (err) {
        t.skip(`${addr} not available: ${(err as Error).message}`);
        return;
      }
      const sender = NativeUdpSender.create();
      assert.ok(sender, 'the addon has udpSendTo');
      const got: Array<{ msg: Buffer; port: number }> = [];
      const all = new Promise<void>((resolve) =>
        rx.on('message', (msg, rinfo) => {
          got.push({ msg, port: rinfo.port });
          if (got.length === 3) resolve();
        }),
      );
      const sent = [Buffer.from('one'), Buffer.alloc(1400, 7), Buffer.from('three')];
      for (const b of sent) assert.equal(sender.send(tx, b, addr, rx.address().port), 'sent');
      await all;
      assert.deepEqual(
        got.map((g) => g.msg),
        sent,
      );
      assert.ok(got.every((g) => g.port === tx.address().port));
      // a scoped IPv6 address has no native path: Node's send is used instead
      assert.equal(sender.send(tx, sent[0]!, 'fe80::1%lo', 9), 'retry');
      rx.close();
      tx.close();
    });
  }
});

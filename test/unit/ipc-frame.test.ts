import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FrameReassembler,
  allocRequest,
  allocResponse,
  writeResponseHeader,
  IPC_MAX_MSG_SIZE,
} from '../../src/ipc/frame.js';
import {
  decodeEventAttachRequest,
  decodeSetupRequest,
  decodeSetupResponse,
  encodeEventAttachRequest,
  encodeEventAttachResponse,
  encodeSetupRequest,
  encodeSetupResponse,
} from '../../src/ipc/handshake.js';

function frames(n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const f = allocRequest(i, 16 + ((i * 7) % 40));
    f.fill(i & 0xff, 16);
    out.push(f);
  }
  return out;
}

test('headers: request 16 bytes id@0 size@8, response 24 with error@16, pads zero', () => {
  assert.equal(allocRequest(7, 16).toString('hex'), '07000000000000001000000000000000');
  assert.equal(
    allocResponse(-1, 24, 6).toString('hex'),
    'ffffffff000000001800000000000000' + '0600000000000000',
  );
  const b = Buffer.alloc(24, 0xee);
  writeResponseHeader(b, 2, 24, 1);
  assert.equal(b.toString('hex'), '020000000000000018000000000000000100000000000000');
});

test('reassembler: whole, merged and byte-by-byte chunks give the same frames', () => {
  const input = frames(50);
  const stream = Buffer.concat(input);
  for (const split of [stream.length, 1, 3, 16, 17, 1000]) {
    const asm = new FrameReassembler({ minSize: 16, maxSize: 1024 });
    const got: Buffer[] = [];
    for (let off = 0; off < stream.length; off += split) {
      const err = asm.push(stream.subarray(off, off + split), (f) => {
        got.push(Buffer.from(f));
      });
      assert.equal(err, undefined);
    }
    assert.equal(got.length, input.length, `split ${split}`);
    got.forEach((f, i) => assert.ok(f.equals(input[i]!), `frame ${i} split ${split}`));
    assert.equal(asm.pendingBytes, 0);
    assert.equal(asm.endOfStream(), undefined);
  }
});

test('reassembler: frames inside one chunk are views, not copies', () => {
  const stream = Buffer.concat(frames(3));
  const asm = new FrameReassembler({ minSize: 16, maxSize: 1024 });
  const got: Buffer[] = [];
  asm.push(stream, (f) => {
    got.push(f);
  });
  assert.equal(got[0]!.buffer, stream.buffer);
  assert.deepEqual(got, frames(3));
});

test('reassembler: a chunk that is exactly one frame is handed on as that object', () => {
  const [one] = frames(1);
  const asm = new FrameReassembler({ minSize: 16, maxSize: 1024 });
  const got: Buffer[] = [];
  asm.push(one!, (f) => {
    got.push(f);
  });
  assert.equal(got.length, 1);
  assert.equal(got[0], one);
  assert.equal(asm.pendingBytes, 0);
});

test('reassembler: ownPending copies buffered bytes, so the read buffer can be reused', () => {
  const all = frames(6);
  const stream = Buffer.concat(all);
  const asm = new FrameReassembler({ minSize: 16, maxSize: 1024 });
  const got: Buffer[] = [];
  const slab = Buffer.alloc(stream.length);
  // feed the stream through one reused buffer in 29-byte reads (frames and headers straddle them)
  for (let off = 0; off < stream.length; off += 29) {
    const n = Math.min(29, stream.length - off);
    stream.copy(slab, 0, off, off + n);
    asm.push(slab.subarray(0, n), (f) => {
      got.push(Buffer.from(f));
    });
    asm.ownPending();
    slab.fill(0xee); // the next read overwrites it
  }
  assert.deepEqual(got, all);
  assert.equal(asm.pendingBytes, 0);
});

test('reassembler: a large frame across reused reads is copied once into its own buffer', () => {
  const big = allocRequest(7, 200_000);
  for (let i = 16; i < big.length; i++) big[i] = i & 0xff;
  const small = allocRequest(8, 40);
  const stream = Buffer.concat([big, small]);
  const asm = new FrameReassembler({ minSize: 16, maxSize: 1 << 20 });
  const slab = Buffer.allocUnsafeSlow(65536);
  const got: Buffer[] = [];
  let stopOnce = true;
  for (let off = 0; off < stream.length; off += slab.length) {
    const n = stream.copy(slab, 0, off, Math.min(stream.length, off + slab.length));
    asm.push(slab.subarray(0, n), (f) => {
      got.push(f.buffer === slab.buffer ? Buffer.from(f) : f);
      if (stopOnce) {
        stopOnce = false;
        return false; // stop right after the big frame: the small one stays buffered
      }
      return true;
    });
    asm.ownPending();
    slab.fill(0xee);
  }
  assert.equal(got.length, 1);
  assert.notEqual(got[0]!.buffer, slab.buffer, 'the big frame has memory of its own');
  assert.ok(got[0]!.equals(big));
  asm.push(Buffer.alloc(0), (f) => {
    got.push(Buffer.from(f));
  });
  assert.equal(got.length, 2);
  assert.ok(got[1]!.equals(small));
  assert.equal(asm.pendingBytes, 0);
});

test('reassembler: a read of whole frames and the start of a larger one knows that frame at once', () => {
  // the first read after the buffer emptied is cut without buffering; the piece it leaves must
  // still announce its frame's size, so ownPending gives it its final buffer
  const a = allocRequest(1, 100);
  const big = allocRequest(2, 5000);
  big.fill(0x5a, 16);
  const asm = new FrameReassembler({ minSize: 16, maxSize: 1 << 20 });
  const slab = Buffer.allocUnsafeSlow(4096);
  const first = Buffer.concat([a, big]).subarray(0, 4096);
  first.copy(slab);
  const got: Buffer[] = [];
  asm.push(slab, (f) => {
    got.push(Buffer.from(f));
  });
  assert.equal(got.length, 1);
  assert.ok(got[0]!.equals(a));
  assert.equal(asm.pendingFrameSize, 5000);
  assert.equal(asm.pendingBytes, 4096 - 100);
  asm.ownPending();
  slab.fill(0xee); // the read buffer is reused
  asm.push(big.subarray(4096 - 100), (f) => {
    got.push(f);
  });
  assert.equal(got.length, 2);
  assert.ok(got[1]!.equals(big), 'the large frame is intact');
  assert.equal(asm.pendingBytes, 0);
});

test('reassembler: size below 16 or above max is a typed error, and it stays failed', () => {
  const small = allocRequest(1, 16);
  small.writeInt32LE(8, 8);
  const asm = new FrameReassembler({ minSize: 16, maxSize: 1024 });
  const err = asm.push(small, () => assert.fail('no frame'));
  assert.equal(err?.kind, 'too-small');
  assert.equal(err?.size, 8);
  assert.equal(asm.push(allocRequest(1, 16), () => assert.fail('poisoned'))?.kind, 'too-small');

  const asm2 = new FrameReassembler({ minSize: 16, maxSize: IPC_MAX_MSG_SIZE });
  const big = Buffer.alloc(12);
  big.writeInt32LE(IPC_MAX_MSG_SIZE + 1, 8);
  const err2 = asm2.push(big, () => assert.fail('no frame'));
  assert.equal(err2?.kind, 'too-big');
  assert.match(err2!.message, /exceeds the maximum 1048576/);

  const neg = Buffer.alloc(16);
  neg.writeInt32LE(-1, 8);
  assert.equal(
    new FrameReassembler({ minSize: 16, maxSize: 64 }).push(neg, () => undefined)?.kind,
    'too-small',
  );
});

test('reassembler: a stream ending inside a frame or header reports truncation', () => {
  const f = allocRequest(1, 100);
  const asm = new FrameReassembler({ minSize: 16, maxSize: 1024 });
  asm.push(f.subarray(0, 40), () => assert.fail());
  const err = asm.endOfStream();
  assert.equal(err?.kind, 'truncated');
  assert.match(err!.message, /40 of 100 bytes/);
  const asm2 = new FrameReassembler({ minSize: 16, maxSize: 1024 });
  asm2.push(f.subarray(0, 5), () => assert.fail());
  assert.match(asm2.endOfStream()!.message, /header \(5 bytes/);
});

test('reassembler: onFrame returning false stops; an empty push resumes', () => {
  const input = frames(3);
  const asm = new FrameReassembler({ minSize: 16, maxSize: 1024 });
  const got: number[] = [];
  asm.push(Buffer.concat(input), (fr) => {
    got.push(fr.readInt32LE(0));
    return false;
  });
  assert.deepEqual(got, [0]);
  asm.push(Buffer.alloc(0), (fr) => {
    got.push(fr.readInt32LE(0));
  });
  assert.deepEqual(got, [0, 1, 2]);
});

test('handshake bytes: SETUP request/response and EVENT_ATTACH', () => {
  const req = encodeSetupRequest({ maxMsgSize: 0x100000, pid: 1234 });
  assert.equal(
    req.toString('hex'),
    'ffffffff00000000' + '2000000000000000' + '0000100000000000' + 'd204000000000000',
  );
  assert.deepEqual(decodeSetupRequest(req), { maxMsgSize: 0x100000, pid: 1234 });

  const res = encodeSetupResponse({ error: 1, cookie: 0x0102030405060708n, maxMsgSize: 0x100000 });
  assert.equal(
    res.toString('hex'),
    'ffffffff00000000' + '2800000000000000' + '0100000000000000' + '0807060504030201' + '0000100000000000',
  );
  assert.deepEqual(decodeSetupResponse(res), { error: 1, cookie: 0x0102030405060708n, maxMsgSize: 0x100000 });

  const att = encodeEventAttachRequest(0x0102030405060708n);
  assert.equal(att.toString('hex'), 'feffffff00000000' + '1800000000000000' + '0807060504030201');
  assert.equal(decodeEventAttachRequest(att), 0x0102030405060708n);
  assert.equal(
    encodeEventAttachResponse(9).toString('hex'),
    'feffffff00000000' + '1800000000000000' + '0900000000000000',
  );
});

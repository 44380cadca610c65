/** The zero-copy buffer table behind CPG's ZC_ALLOC / ZC_EXECUTE / ZC_FREE (no mapping in Node). */
import assert from 'node:assert/strict';
import {
  existsSync,
  openSync,
  closeSync,
  readSync,
  writeSync,
  ftruncateSync,
  symlinkSync,
  rmSync,
} from 'node:fs';
import { describe, it, afterEach } from 'node:test';
import { CpgSize } from '../../src/services/cpg/codec.js';
import { ZeroCopyBuffers } from '../../src/daemon/cpg-zerocopy.js';

const made: string[] = [];
/** The refusal reason, or 'ok'. */
const why = (r: object): string => ('error' in r ? String(r.error) : 'ok');
function zcFile(
  size: number,
  suffix = Math.random().toString(36).slice(2, 8).padEnd(6, 'x'),
): { path: string; fd: number } {
  const path = `/dev/shm/corosync_zerocopy-${suffix}`;
  const fd = openSync(path, 'w+');
  ftruncateSync(fd, size);
  made.push(path);
  return { path, fd };
}

/** What libcpg writes before ZC_EXECUTE: req_lib_cpg_mcast (40 bytes) + message after the zc header. */
function writeRequest(fd: number, message: Buffer): void {
  const head = Buffer.alloc(CpgSize.REQ_MCAST_HEADER);
  head.writeInt32LE(0, 0); // MESSAGE_REQ_CPG_MCAST
  head.writeInt32LE(CpgSize.REQ_MCAST_HEADER + message.length, 4);
  head.writeUInt32LE(message.length, 32);
  writeSync(fd, Buffer.concat([head, message]), 0, head.length + message.length, CpgSize.ZC_HEADER);
}

describe('cpg zero-copy buffers', () => {
  afterEach(() => {
    for (const p of made.splice(0)) rmSync(p, { force: true });
  });

  it('alloc unlinks the file and writes the server address; execute reads the request; free forgets it', () => {
    const z = new ZeroCopyBuffers();
    const { path, fd } = zcFile(4096);
    const r = z.alloc(path, 4096n);
    assert.ok('token' in r, why(r));
    assert.equal(existsSync(path), false, 'the file is unlinked, as corosync does');
    const hdr = Buffer.alloc(16);
    readSync(fd, hdr, 0, 16, 0);
    assert.equal(hdr.readBigUInt64LE(8), r.token, 'coroipcs_zc_header.server_address');
    writeRequest(fd, Buffer.from('zero copy!'));
    const f = z.readFrame(r.token);
    assert.ok('frame' in f, why(f));
    assert.equal(f.frame.subarray(CpgSize.REQ_MCAST_HEADER).toString(), 'zero copy!');
    assert.equal(f.frame.readUInt32LE(32), 10);
    z.free(r.token);
    assert.equal(z.count, 0);
    assert.match(why(z.readFrame(r.token)), /unknown zero-copy buffer/);
    closeSync(fd);
  });

  it('refuses paths that are not libcpg files, symbolic links and short files', () => {
    const z = new ZeroCopyBuffers();
    assert.match(why(z.alloc('/etc/passwd', 4096n)), /not libcpg's/);
    assert.match(why(z.alloc('/dev/shm/../etc/corosync_zerocopy-abcdef', 4096n)), /not libcpg's/);
    const { path: target, fd } = zcFile(4096);
    closeSync(fd);
    // exactly libcpg's 6 template characters (pids below 100 once made a 5-character name)
    const link = `/dev/shm/corosync_zerocopy-lnk${String(process.pid % 1000).padStart(3, '0')}`;
    rmSync(link, { force: true });
    symlinkSync(target, link);
    made.push(link);
    assert.match(why(z.alloc(link, 4096n)), /cannot open/);
    assert.equal(existsSync(target), true, 'nothing deleted through a link');
    const small = zcFile(100);
    closeSync(small.fd);
    assert.match(why(z.alloc(small.path, 4096n)), /smaller than/);
    assert.equal(z.count, 0);
  });

  it('a message longer than its buffer, or a file truncated after alloc, is refused', () => {
    const z = new ZeroCopyBuffers();
    const { path, fd } = zcFile(256);
    const r = z.alloc(path, 256n);
    assert.ok('token' in r);
    writeRequest(fd, Buffer.alloc(220)); // 16 + 40 + 220 > 256
    assert.match(why(z.readFrame(r.token)), /does not fit/);
    ftruncateSync(fd, 20);
    assert.match(why(z.readFrame(r.token)), /truncated/);
    z.closeAll();
    assert.equal(z.count, 0);
    closeSync(fd);
  });
});

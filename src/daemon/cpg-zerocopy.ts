/**
 * libcpg's zero-copy buffers (cpg_zcb_alloc / cpg_zcb_mcast_joined / cpg_zcb_free, spec
 * cpg.md §7.11) without a shared mapping in the daemon: corosync 3.1.7 maps the client's file
 * and unlinks it; we open it, unlink it, and read the message through the descriptor when the
 * client asks to send it (the client's MAP_SHARED pages are the file's pages, so what it wrote
 * is what we read). The "server address" corosync returns is its mapping address; ours is an
 * opaque token that names the descriptor. The client is authorised already (IPC admission), but
 * it names a path for the root daemon to open and delete: only files of libcpg's own pattern in
 * the shared-memory or run directory are accepted, never through a symbolic link.
 *
 * Runtime-shell code (files): the daemon injects it into the CPG service (CpgServiceOptions
 * `zeroCopy`), which stays free of I/O.
 */
import { Buffer } from 'node:buffer';
import { closeSync, constants, fstatSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { CpgSize } from '../services/cpg/codec.js';
import type { ZeroCopyTable } from '../services/cpg/service.js';
import { readUInt32LE, writeBigUInt64LE, writeInt32LE } from '../common/bytes.js';

/** Directories libcpg creates its zero-copy files in (corosync's coroipcc: /dev/shm, else the run dir). */
const ZC_DIRS = new Set(['/dev/shm', '/var/run', '/run']);
/** libcpg's mkstemp template: corosync_zerocopy-XXXXXX. */
const ZC_NAME = /^corosync_zerocopy-[A-Za-z0-9]{6}$/;
/** Tokens look like addresses (non-zero, 4 KiB apart) but are only keys of our table. */
const TOKEN_BASE = 0x7a00_0000_0000n;
const TOKEN_STEP = 0x1000n;

interface ZcBuffer {
  readonly fd: number;
  readonly size: number;
}

export class ZeroCopyBuffers implements ZeroCopyTable {
  private readonly buffers = new Map<bigint, ZcBuffer>();
  private next = TOKEN_BASE;

  /**
   * ZC_ALLOC: take over the client's file. Returns the token written into the file's
   * `coroipcs_zc_header`, or a reason when the file is refused.
   */
  alloc(path: string, mapSize: bigint): { token: bigint } | { error: string } {
    if (!ZC_DIRS.has(dirname(path)) || !ZC_NAME.test(basename(path))) {
      return { error: `zero-copy file ${JSON.stringify(path)} is not libcpg's` };
    }
    if (mapSize < BigInt(CpgSize.ZC_HEADER + CpgSize.REQ_MCAST_HEADER) || mapSize > 0x7fff_ffffn) {
      return { error: `zero-copy map size ${mapSize} out of range` };
    }
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW);
    } catch (err) {
      return { error: `cannot open zero-copy file ${path}: ${(err as Error).message}` };
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || BigInt(st.size) < mapSize) {
        closeSync(fd);
        return { error: `zero-copy file ${path} is smaller than ${mapSize} bytes` };
      }
      unlinkSync(path); // as corosync: the file lives on only in the two processes
      const token = this.next;
      this.next += TOKEN_STEP;
      const addr = Buffer.alloc(8);
      writeBigUInt64LE(addr, token, 0);
      writeSync(fd, addr, 0, 8, 8); // coroipcs_zc_header.server_address
      this.buffers.set(token, { fd, size: Number(mapSize) });
      return { token };
    } catch (err) {
      closeSync(fd);
      return { error: `zero-copy file ${path}: ${(err as Error).message}` };
    }
  }

  /**
   * ZC_EXECUTE: the `req_lib_cpg_mcast` frame the client wrote after the zc header, or a reason
   * (unknown token, truncated file, sizes that do not fit the buffer).
   */
  readFrame(token: bigint): { frame: Buffer } | { error: string } {
    const b = this.buffers.get(token);
    if (!b) return { error: `unknown zero-copy buffer 0x${token.toString(16)}` };
    const head = Buffer.alloc(CpgSize.REQ_MCAST_HEADER);
    if (readSync(b.fd, head, 0, head.length, CpgSize.ZC_HEADER) !== head.length) {
      return { error: 'zero-copy buffer truncated by the client' };
    }
    const msglen = readUInt32LE(head, 32);
    const total = CpgSize.REQ_MCAST_HEADER + msglen;
    if (total > b.size - CpgSize.ZC_HEADER) {
      return { error: `zero-copy message of ${msglen} bytes does not fit its ${b.size}-byte buffer` };
    }
    const frame = Buffer.alloc(total);
    if (readSync(b.fd, frame, 0, total, CpgSize.ZC_HEADER) !== total) {
      return { error: 'zero-copy buffer truncated by the client' };
    }
    // libcpg leaves the request header's size as the mapping wrote it; the frame is what counts
    writeInt32LE(frame, total, 4);
    return { frame };
  }

  /** ZC_FREE (unknown tokens are ignored, as corosync ignores unknown addresses). */
  free(token: bigint): void {
    const b = this.buffers.get(token);
    if (!b) return;
    this.buffers.delete(token);
    closeSync(b.fd);
  }

  /** The connection closed: drop every buffer it had. */
  closeAll(): void {
    for (const b of this.buffers.values()) closeSync(b.fd);
    this.buffers.clear();
  }

  get count(): number {
    return this.buffers.size;
  }
}

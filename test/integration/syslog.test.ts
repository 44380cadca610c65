/**
 * `logging.to_syslog`: the daemon's log lines reach a syslog socket as syslog(3) frames them.
 * A python3 receiver stands in for /dev/log (COROSYNC_TS_SYSLOG_SOCKET points the daemon at it).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { openSyslogSink } from '../../src/daemon/syslog.js';
import { loadQbNative } from '../../src/ipc/libqb/native.js';
import { singleNodeConfig, startDaemonProcess, waitFor } from '../helpers/daemon-process.js';

const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = s.recv(65536)
    print(data.decode("utf-8", "replace").replace("\\n", "\\\\n"), flush=True)
`;

/** A receiver that reads nothing until a line arrives on its standard input. */
const LATE_RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
sys.stdin.readline()
while True:
    print(s.recv(65536).decode(), flush=True)
`;

const python = spawnSync('python3', ['-c', 'pass']).status === 0;
const addon = loadQbNative();
const skip = !python ? 'python3 not found' : !addon.ok ? `native addon not built: ${addon.reason}` : false;
if (skip) console.log(`# skipped: ${skip}`);

describe('syslog output', { skip, timeout: 60_000 }, () => {
  it('to_syslog: yes sends every line at syslog_priority and above, framed as syslog(3)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cts-syslog-'));
    const sockPath = join(dir, 'log');
    const receiver = spawn('python3', ['-c', RECEIVER, sockPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    createInterface({ input: receiver.stdout! }).on('line', (l) => lines.push(l));
    try {
      await waitFor(() => lines.includes('listening'), 'the syslog stand-in', 10_000);
      const config = singleNodeConfig().replace('to_syslog: no', 'to_syslog: yes\n  syslog_facility: local4');
      const d = await startDaemonProcess({
        configText: config,
        args: ['--nodeid', '1'],
        env: { COROSYNC_TS_SYSLOG_SOCKET: sockPath },
      });
      try {
        // local4 = 20: 20 × 8 + notice 5 = 165
        const ready =
          /^<165>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d corosync\[(\d+)\]: {2}\[MAIN {2}\] .*ready to provide service/;
        await waitFor(() => lines.some((l) => ready.test(l)), 'the ready line on syslog', 15_000);
        const m = ready.exec(lines.find((l) => ready.test(l))!)!;
        assert.equal(Number(m[1]), d.child.pid, 'corosync[<pid of the daemon>]');
        // only syslog_priority (info) and above: no debug lines
        assert.ok(
          lines.every((l) => l === 'listening' || /^<16[0-6]>/.test(l)),
          lines.join('\n'),
        );
      } finally {
        await d.stop();
      }
    } finally {
      receiver.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lines syslog cannot take yet (EAGAIN) are kept and arrive later, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cts-syslog-'));
    const sockPath = join(dir, 'log');
    const receiver = spawn('python3', ['-c', LATE_RECEIVER, sockPath], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    createInterface({ input: receiver.stdout! }).on('line', (l) => lines.push(l));
    try {
      await waitFor(() => lines.includes('listening'), 'the syslog stand-in', 10_000);
      const sink = openSyslogSink(sockPath)!;
      // the socket's queue (net.unix.max_dgram_qlen, 10 by default) fills up: the rest waits
      const sent = Array.from({ length: 40 }, (_, i) => `line ${i}`);
      for (const l of sent) sink(l);
      receiver.stdin!.write('read\n');
      await waitFor(() => lines.length > sent.length, 'every line at the receiver', 10_000);
      assert.deepEqual(lines.slice(1), sent, 'all of them, in the order sent');
    } finally {
      receiver.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

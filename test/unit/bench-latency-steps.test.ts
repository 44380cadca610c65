import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzeSteps, formatSteps } from '../../bench/latency-steps.js';

// perf script -F pid,tid,time,event,trace lines as perf prints them
const sendto = (pid: number, t: string, addr: string): string =>
  ` ${pid}/${pid}  ${t}:  syscalls:sys_enter_sendto: fd: 0x00000012, buff: 0x1, len: 0x00000019, flags: 0x00004040, addr: ${addr}, addr_len: 0x00000010`;
const sendmsg = (pid: number, t: string): string =>
  ` ${pid}/${pid}  ${t}: syscalls:sys_enter_sendmsg: fd: 0x00000012, msg: 0x7ffc, flags: 0x00004040`;
const recvfrom = (pid: number, t: string): string =>
  ` ${pid}/${pid}  ${t}: syscalls:sys_exit_recvfrom: 0x428`;

// node 1: daemon 10, client 20; node 2: daemon 11, client 21; an unrelated process 99
const D = [10, 11];
const C = [20, 21];

test('latency steps: one message, every step from the tracepoints', () => {
  const text = [
    sendmsg(20, '100.000000'), // the sender's request
    sendto(99, '100.000005', '0x00000000'), // another process: ignored
    recvfrom(10, '100.000030'), // node 1 reads it
    sendto(10, '100.000050', '0x1458f780'), // hold-cancel: the first UDP send
    sendto(10, '100.000200', '0x1458f780'),
    sendto(10, '100.000250', '0x00000000'), // node 1's event
    sendto(11, '100.000300', '0x00000000'), // node 2's event
    recvfrom(20, '100.000330'),
    recvfrom(21, '100.000400'),
  ].join('\n');
  const rows = analyzeSteps(text, D, C);
  const us = Object.fromEntries(rows.map((r) => [r.step, [r.n, Math.round(r.p50Us)]]));
  assert.deepEqual(us, {
    '1 request sent -> node 1 reads it': [1, 30],
    '2 node 1 read -> its first UDP send': [1, 20],
    '3 first UDP send -> event written (node 1)': [1, 200],
    '3 first UDP send -> event written (others)': [1, 250],
    // two samples each (80 and 100, 330 and 400 µs): the nearest-rank p50 is the lower
    '4 event written -> client reads it': [2, 80],
    '5 request sent -> client reads (every client)': [2, 330],
  });
  assert.equal(formatSteps(rows).length, rows.length);
});

test('latency steps: libqb requests (a sendto without address) and the window end', () => {
  const text = [
    sendto(20, '5.000000', '0x00000000'), // libqb's one-byte request notification
    recvfrom(10, '5.000070'),
    sendmsg(10, '5.000075'), // corosync's UDP sends are sendmsg
    sendto(11, '5.000200', '0x00000000'),
    recvfrom(21, '5.000260'),
    // the next request: events after it belong to it, not to the first
    sendto(20, '5.010000', '0x00000000'),
    recvfrom(21, '5.010100'),
  ].join('\n');
  const rows = analyzeSteps(text, D, C);
  const get = (step: string): number | undefined => rows.find((r) => r.step === step)?.n;
  assert.equal(get('1 request sent -> node 1 reads it'), 1);
  assert.equal(get('2 node 1 read -> its first UDP send'), 1);
  assert.equal(get('4 event written -> client reads it'), 1);
  assert.equal(Math.round(rows.find((r) => r.step.startsWith('5'))?.p50Us ?? 0), 260);
  // a message whose node 1 never read it has no steps
  assert.deepEqual(analyzeSteps(sendmsg(20, '1.0'), D, C), []);
});

test("latency steps: step 6, the clients' own time, from the latency samples matched to the requests", () => {
  const message = (t: number): string[] => {
    const at = (us: number): string => (t + us / 1e6).toFixed(6);
    return [
      sendmsg(20, at(0)),
      recvfrom(10, at(30)),
      sendto(10, at(50), '0x1458f780'),
      sendto(10, at(250), '0x00000000'),
      sendto(11, at(300), '0x00000000'),
      recvfrom(20, at(330)),
      recvfrom(21, at(400)),
    ];
  };
  const text = [...message(7), ...message(7.01)].join('\n');
  // client 20's samples, then client 21's, per message (stamp to stamp, µs)
  const samples = [
    [345, 350],
    [460, 520],
  ];
  const rows = analyzeSteps(text, D, C, 0.004, samples);
  const own = rows.find((r) => r.step.startsWith('6 '));
  assert.ok(own, 'step 6 is there when every request has its sample');
  // 345-330, 350-330, 460-400, 520-400 µs: 15, 20, 60, 120
  assert.equal(own.n, 4);
  assert.deepEqual([own.p10Us, own.p50Us, own.p99Us].map(Math.round), [15, 20, 120]);
  // split per message: the least of its clients' step 6 (15 and 60: 15; 20 and 120: 20) is the
  // most the sender can have spent, the rest is the receivers' (0 and 45; 0 and 100)
  const part = (prefix: string): number[] | undefined => {
    const r = rows.find((x) => x.step.startsWith(prefix));
    return r && [r.n, ...[r.p10Us, r.p50Us, r.p99Us].map(Math.round)];
  };
  assert.deepEqual(part('6a '), [2, 15, 15, 20]);
  assert.deepEqual(part('6b '), [4, 0, 0, 100]);
  // one sample fewer than the requests: they cannot be matched, so no step 6
  const short = analyzeSteps(text, D, C, 0.004, [[345], [460]]);
  assert.equal(
    short.some((r) => r.step.startsWith('6 ')),
    false,
  );
  assert.equal(short.length, rows.length - 3);
  // the trace missed the run's first message: the requests are matched to the last samples
  const late = analyzeSteps(text, D, C, 0.004, [
    [900, 345, 350],
    [900, 460, 520],
  ]);
  assert.equal(late.find((r) => r.step.startsWith('6 '))?.p99Us, own.p99Us);
  // matched to the wrong messages, a sample falls below its own step 5: no step 6
  const wrong = analyzeSteps(text, D, C, 0.004, [
    [345, 350, 100],
    [460, 520, 100],
  ]);
  assert.equal(
    wrong.some((r) => r.step.startsWith('6 ')),
    false,
  );
});

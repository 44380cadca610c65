/**
 * Preload for `node dist/bench/run.js --cpu-prof`: Node refuses `--cpu-prof` in NODE_OPTIONS, so
 * the bench passes `--import <this file>` there instead. With CTS_BENCH_CPU_PROF_DIR set, it
 * starts the V8 profiler at once and writes `<dir>/<script>-<pid>.cpuprofile` when the process
 * exits normally (our daemon on SIGTERM, the bench clients on quit). SIGKILLed processes leave
 * no profile.
 */
import * as fs from 'node:fs';
import { Session } from 'node:inspector';
import * as path from 'node:path';

const dir = process.env.CTS_BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.once('exit', () => {
    // a same-thread session answers synchronously, so this completes before the exit
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      const name = path.basename(process.argv[1] ?? 'node', '.js');
      fs.writeFileSync(path.join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}

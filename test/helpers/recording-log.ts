import type { SubsysLogger } from '../../src/daemon/logging.js';

/** A subsystem logger that keeps every line as "<level> <message>" (unit tests of start-up policies). */
export function recordingLog(): SubsysLogger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (msg: string) => void lines.push(`${level} ${msg}`);
  return {
    lines,
    error: at('error'),
    warn: at('warn'),
    notice: at('notice'),
    info: at('info'),
    debug: at('debug'),
    trace: at('trace'),
  };
}

/**
 * What the command line tools share around their output and the errors of the client library.
 */
import { CsError, CsErrorCode } from '../common/errors.js';

/** Something output can be written to (process.stdout, a test collector, …). */
export interface OutputSink {
  write(chunk: string | Uint8Array): unknown;
}

/** The cs_error_t of a failure: a CsError's code, CS_ERR_LIBRARY for anything else. */
export function csCode(err: unknown): number {
  return err instanceof CsError ? err.code : CsErrorCode.CS_ERR_LIBRARY;
}

/**
 * A handle from `initialize`, or undefined after writing the C tools' line for a failed
 * initialization to `err`: `Could not initialize corosync <api> API error <code>` (`describe`
 * turns the cs_error_t into what follows "error", its number by default).
 */
export async function initializeOrReport<T>(
  initialize: () => Promise<T>,
  api: string,
  err: OutputSink,
  describe: (code: number) => string | number = (code) => code,
): Promise<T | undefined> {
  try {
    return await initialize();
  } catch (e) {
    err.write(`Could not initialize corosync ${api} API error ${describe(csCode(e))}\n`);
    return undefined;
  }
}

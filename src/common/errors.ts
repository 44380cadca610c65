/**
 * corosync's `cs_error_t` (include/corosync/corotypes.h) and the error type every public API
 * throws. The numeric codes travel in IPC response headers, so they must stay exact.
 */
export const CsErrorCode = {
  CS_OK: 1,
  CS_ERR_LIBRARY: 2,
  CS_ERR_VERSION: 3,
  CS_ERR_INIT: 4,
  CS_ERR_TIMEOUT: 5,
  CS_ERR_TRY_AGAIN: 6,
  CS_ERR_INVALID_PARAM: 7,
  CS_ERR_NO_MEMORY: 8,
  CS_ERR_BAD_HANDLE: 9,
  CS_ERR_BUSY: 10,
  CS_ERR_ACCESS: 11,
  CS_ERR_NOT_EXIST: 12,
  CS_ERR_NAME_TOO_LONG: 13,
  CS_ERR_EXIST: 14,
  CS_ERR_NO_SPACE: 15,
  CS_ERR_INTERRUPT: 16,
  CS_ERR_NAME_NOT_FOUND: 17,
  CS_ERR_NO_RESOURCES: 18,
  CS_ERR_NOT_SUPPORTED: 19,
  CS_ERR_BAD_OPERATION: 20,
  CS_ERR_FAILED_OPERATION: 21,
  CS_ERR_MESSAGE_ERROR: 22,
  CS_ERR_QUEUE_FULL: 23,
  CS_ERR_QUEUE_NOT_AVAILABLE: 24,
  CS_ERR_BAD_FLAGS: 25,
  CS_ERR_TOO_BIG: 26,
  CS_ERR_NO_SECTIONS: 27,
  CS_ERR_CONTEXT_NOT_FOUND: 28,
  CS_ERR_TOO_MANY_GROUPS: 30,
  CS_ERR_SECURITY: 100,
} as const;

export type CsErrorName = keyof typeof CsErrorCode;
export type CsErrorCodeValue = (typeof CsErrorCode)[CsErrorName];

const namesByCode = new Map<number, CsErrorName>(
  Object.entries(CsErrorCode).map(([name, code]) => [code, name as CsErrorName]),
);

/** The constant's name for a code, e.g. 6 → "CS_ERR_TRY_AGAIN"; undefined for unknown codes. */
export function csErrorName(code: number): CsErrorName | undefined {
  return namesByCode.get(code);
}

/**
 * corosync's `cs_strerror`: "success" for CS_OK, the constant name for the others,
 * "unknown error" otherwise (used in several corosync messages, e.g. config errors).
 */
export function csStrerror(code: number): string {
  if (code === CsErrorCode.CS_OK) return 'success';
  return namesByCode.get(code) ?? 'unknown error';
}

/**
 * Human text of the corosync tools (`cs_strerror` output as corosync-cmapctl prints it
 * through `cs_strerror`, which in 3.1.7 is the constant name).
 */
export class CsError extends Error {
  readonly code: number;
  readonly codeName: string;

  constructor(code: number, message?: string) {
    const name = csErrorName(code) ?? `CS_ERR_UNKNOWN(${code})`;
    super(message ? `${name}: ${message}` : name);
    this.name = 'CsError';
    this.code = code;
    this.codeName = name;
  }

  /** True when `err` is a CsError with the given code. */
  static is(err: unknown, code: number): err is CsError {
    return err instanceof CsError && err.code === code;
  }
}

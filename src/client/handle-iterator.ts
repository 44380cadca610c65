/**
 * The async-iterator form of corosync's handle-based iterations (cmap_iter_*, cpg_iteration_*):
 * open, step until the end, and always close the daemon-side iterator — also when the loop
 * breaks or throws (then a failure to close is not allowed to mask the first error).
 */
export async function* iterateHandle<H, T>(
  open: () => Promise<H>,
  next: (handle: H) => Promise<T | null>,
  close: (handle: H) => Promise<void>,
): AsyncIterableIterator<T> {
  const handle = await open();
  let finished = false;
  try {
    for (;;) {
      const item = await next(handle);
      if (item === null) break;
      yield item;
    }
    finished = true;
  } finally {
    if (finished) await close(handle);
    else await close(handle).catch(() => undefined);
  }
}

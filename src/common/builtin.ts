/**
 * A Node built-in module loaded on demand (one the running daemon mostly never needs, e.g.
 * node:child_process, 2 MB of idle RSS). In the binary's CommonJS bundle, compiled from V8's
 * code cache (src/cli/code-cache.ts), `import()` finds no loader on Node 20 (the cached functions
 * lose the script's dynamic-import callback), so there it is CommonJS's `require`; in ES modules
 * (the library, the tests) `require` does not exist and it is `import()`.
 */
export async function loadBuiltin<T>(name: `node:${string}`): Promise<T> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS bundle only (see above)
  return typeof require === 'function' ? (require(name) as T) : ((await import(name)) as T);
}

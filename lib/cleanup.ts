// What to undo when the process is interrupted: a registry of synchronous cleanups (remove a
// staging directory, a lock, a temporary directory) run on SIGINT or SIGTERM, after which the
// process exits 130 or 143 as a shell would report it. Minimal on purpose: onInterrupt registers,
// installSignalHandlers (called once by the command line, never by the library on its own) makes
// the signals run them. A library user who handles signals can call runCleanups() themselves.

const cleanups = new Set<() => void>();
let installed = false;

/** Registers `fn` to run on SIGINT/SIGTERM; returns the function that unregisters it. */
export function onInterrupt(fn: () => void): () => void {
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
  };
}

/** Runs every registered cleanup once (newest first), ignoring their errors. */
export function runCleanups(): void {
  for (const fn of [...cleanups].reverse()) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {
      /* best effort: the others still run */
    }
  }
}

/** SIGINT and SIGTERM run the cleanups, then exit 128 + the signal number (130, 143). Idempotent. */
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(signal, () => {
      runCleanups();
      process.exit(code);
    });
  }
}

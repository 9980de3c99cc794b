// A process-wide registry of what must not outlive magicpak: temporary directories (the jail, the
// UPX scratch directory), child process groups (the jail's) and other undo steps (OUTPUT's staging
// directory and lock). Each user registers what it made and unregisters it when done; on SIGINT or
// SIGTERM (handlers installed by bin/cli.ts through installSignalCleanup, never by the library on
// its own) everything still registered is killed and removed, and the process exits 130 or 143 as
// a shell reports a death by that signal. A library user who handles signals calls cleanUpNow().

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const directories = new Set<string>();
const groups = new Set<number>();
const cleanups = new Set<() => void>();

/** Registers a temporary directory; returns the function that removes and unregisters it. */
export function registerTempDir(dir: string): () => void {
  directories.add(dir);
  return () => {
    directories.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  };
}

/** mkdtemp under the system's temporary directory, registered: `{ dir, remove }`. */
export function makeTempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: registerTempDir(dir) };
}

/** Registers a process group (a detached child's pid); returns the function that unregisters it. */
export function registerProcessGroup(pgid: number): () => void {
  groups.add(pgid);
  return () => void groups.delete(pgid);
}

/** Registers `fn` to run on SIGINT/SIGTERM; returns the function that unregisters it. */
export function onInterrupt(fn: () => void): () => void {
  cleanups.add(fn);
  return () => void cleanups.delete(fn);
}

/** Kills every registered process group, runs the cleanups (newest first) and removes every registered directory, now. */
export function cleanUpNow(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  groups.clear();
  for (const fn of [...cleanups].reverse()) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {
      // best effort: the others still run
    }
  }
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
  directories.clear();
}

let installed = false;

/** On SIGINT and SIGTERM: clean up, then exit 130 or 143. Idempotent. */
export function installSignalCleanup(): void {
  if (installed) return;
  installed = true;
  for (const [signal, status] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.on(signal, () => {
      cleanUpNow();
      process.exit(status);
    });
  }
}

// Who is writing a destination, and what a killed run left beside it. A run that writes DEST
// (a bundle OUTPUT, an OCI layout or archive) first creates DEST's lock file, `.NAME.magicpak.lock`
// beside it, with O_EXCL, holding its pid and its start time (field 22 of /proc/PID/stat, so a
// reused pid is not taken for the owner). Under the lock it writes into `.NAME.magicpak-XXXXXX`
// staging directories and renames the result into place. A SIGKILLed run leaves both behind: the
// next run finds the lock's owner gone, takes the lock over and removes every staging sibling
// (only a lock holder ever has one, so they are all the dead run's). A live owner's lock is
// respected: the second run stops with "another magicpak run is writing it". No flock needed.

import { closeSync, linkSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface HeldDestination {
  /** A new, empty staging directory beside the destination (removed by release if still there). */
  makeStaging(): string;
  /** Removes the staging directories still there and the lock. Idempotent. */
  release(): void;
}

/** The name of the lock file of `absolute`. */
export function lockPathOf(absolute: string): string {
  return join(dirname(absolute), `.${basename(absolute)}.magicpak.lock`);
}

/** This process's identity for a lock: pid and start time. */
function ownerLine(pid = process.pid): string {
  return `${pid} ${startTime(pid) ?? "?"}\n`;
}

function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the owner recorded in a lock's content still runs. */
export function ownerAlive(content: string): boolean {
  const [pidText, start] = content.trim().split(" ");
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false; // unreadable: a torn write of a killed run
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = startTime(pid);
  return now === null || start === "?" || now === start;
}

/**
 * Takes the lock of `absolute` (removing a dead run's lock and staging siblings) or throws
 * `makeError(shown, "another magicpak run is writing it")`.
 */
export function acquireDestination(absolute: string, shown: string, makeError: (path: string, problem: string) => Error): HeldDestination {
  const lock = lockPathOf(absolute);
  const prefix = `.${basename(absolute)}.magicpak-`;
  const parent = dirname(absolute);
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(lock, "wx", 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 3) throw error;
      let content: string;
      try {
        content = readFileSync(lock, "latin1");
      } catch {
        continue; // removed meanwhile: try again
      }
      if (ownerAlive(content)) throw makeError(shown, "another magicpak run is writing it");
      // Stale. Move it aside before removing it, and only if it is still the stale one: another run
      // may have taken the lock over meanwhile.
      const aside = `${lock}.stale-${process.pid}`;
      try {
        renameSync(lock, aside);
      } catch {
        continue;
      }
      if (readFileSync(aside, "latin1") !== content) {
        try {
          linkSync(aside, lock); // a live lock taken by mistake goes back (never over a new one)
        } catch {
          /* someone else holds it now: the next attempt tells */
        }
      }
      unlinkSync(aside);
      continue;
    }
    try {
      writeSync(fd, ownerLine());
    } finally {
      closeSync(fd);
    }
    break;
  }
  // Under the lock: every staging sibling is a dead run's.
  for (const name of readdirSync(parent)) {
    if (name.startsWith(prefix) || name.startsWith(`.${basename(absolute)}.magicpak.lock.stale-`)) rmSync(join(parent, name), { recursive: true, force: true });
  }
  const made: string[] = [];
  let released = false;
  return {
    makeStaging() {
      const dir = mkdtempSync(join(parent, prefix));
      made.push(dir);
      return dir;
    },
    release() {
      if (released) return;
      released = true;
      for (const dir of made) rmSync(dir, { recursive: true, force: true });
      try {
        if (readFileSync(lock, "latin1") === ownerLine()) unlinkSync(lock);
      } catch {
        /* already gone */
      }
    },
  };
}

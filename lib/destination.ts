// What a destination directory (the bundle's OUTPUT, an OCI image layout) must be before it is
// written: absent or empty (magicpak's "destination is invalid / not empty").

import { closeSync, constants, lstatSync, mkdtempSync, openSync, readdirSync, rmdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { errnoText } from "./errors.js";

/** Why the directory `absolute` cannot be written, or null when it is absent or an empty directory. */
export function directoryDestinationProblem(absolute: string): string | null {
  let stats;
  try {
    stats = lstatSync(absolute);
  } catch {
    return null;
  }
  if (!stats.isDirectory()) return "destination exists and is not a directory";
  if (readdirSync(absolute).length > 0) return "destination is not empty";
  return null;
}

/**
 * Why nothing could be created at `absolute` (a destination that is absent or will be replaced):
 * its nearest existing ancestor must be a directory in which a file can be made. Probed for real
 * (probeWritable), so a read-only mount, procfs or a full inode table is found before anything is
 * written. Null when it can be written.
 */
export function parentProblem(absolute: string): { path: string; problem: string } | null {
  let ancestor = dirname(absolute);
  for (;;) {
    let stats;
    try {
      stats = statSync(ancestor);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" && ancestor !== "/") {
        ancestor = dirname(ancestor);
        continue;
      }
      return { path: ancestor, problem: errnoText(code) ?? String(error) };
    }
    if (!stats.isDirectory()) return { path: ancestor, problem: "Not a directory (the destination's parent must be a directory)" };
    break;
  }
  try {
    probeWritable(ancestor);
  } catch (error) {
    return { path: ancestor, problem: `cannot create files there: ${errnoText((error as NodeJS.ErrnoException).code) ?? String(error)}` };
  }
  return null;
}

/** Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY, include/uapi/asm-generic/fcntl.h), which Node does not export. */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

/**
 * Makes an inode in `dir`, or throws why it cannot. An unnamed file (open(2) O_TMPFILE) first:
 * a run killed at that moment leaves nothing behind, where a named probe would stay beside the
 * destination. Where the kernel or file system has no O_TMPFILE, a directory made and removed.
 */
function probeWritable(dir: string): void {
  if (process.arch === "x64" || process.arch === "arm64") {
    try {
      closeSync(openSync(dir, O_TMPFILE | constants.O_WRONLY, 0o600));
      return;
    } catch (error) {
      // EISDIR: a kernel before 3.11 (O_DIRECTORY alone); EOPNOTSUPP (libuv: ENOTSUP): the file system has none.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EISDIR" && code !== "EOPNOTSUPP" && code !== "ENOTSUP" && code !== "EINVAL") throw error;
    }
  }
  rmdirSync(mkdtempSync(join(dir, ".magicpak-probe-")));
}

/** Why the file `absolute` (an OCI or Docker archive) cannot be written, or null. */
export function fileDestinationProblem(absolute: string): string | null {
  try {
    if (!lstatSync(absolute).isFile()) return "destination exists and is not a regular file";
  } catch {
    /* absent */
  }
  return null;
}

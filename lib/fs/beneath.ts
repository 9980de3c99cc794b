// Opening a file of a root by its canonical path without trusting the host path a second time.
// Node has no openat(2), so each directory is opened with O_PATH|O_DIRECTORY|O_NOFOLLOW and the
// next component is opened through /proc/self/fd/N/NAME: the kernel starts that lookup at the
// directory the descriptor holds, exactly as openat(N, NAME) would, and never re-walks the prefix.
// A component that became a symlink (a library directory swapped for a link to the host's) fails
// with ELOOP or ENOTDIR instead of being followed. Without /proc the whole path is opened with
// O_NOFOLLOW on its last component only, and callers still compare the inode they got.

import { closeSync, constants, existsSync, openSync } from "node:fs";
import { fsPath } from "../fs-name.js";

/** open(2)'s O_PATH on Linux (x86_64, arm64 and the other generic ABIs); Node does not export it. */
const O_PATH = 0o10000000;

const viaProc = existsSync("/proc/self/fd");

/**
 * Opens `canonical` (absolute, no symlinks, no `.`/`..`) below the host directory `hostRoot`
 * ("" for the host's /) for reading, following no symlink at any component below the root.
 * Returns the descriptor; throws the errno error of the component that failed.
 */
export function openBeneath(hostRoot: string, canonical: string, flags = 0): number {
  const parts = canonical.split("/").filter((p) => p !== "");
  const last = parts.pop();
  const fileFlags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NOCTTY | flags;
  if (last === undefined) return openSync(hostRoot || "/", fileFlags);
  if (!viaProc) return openSync(fsPath(`${hostRoot}${canonical}`), fileFlags);
  // The root itself is the user's choice and may be reached through symlinks.
  let dir = openSync(hostRoot || "/", O_PATH | constants.O_DIRECTORY);
  try {
    for (const part of parts) {
      const next = openSync(fsPath(`/proc/self/fd/${dir}/${part}`), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      closeSync(dir);
      dir = next;
    }
    return openSync(fsPath(`/proc/self/fd/${dir}/${last}`), fileFlags);
  } finally {
    closeSync(dir);
  }
}

/** The host directory of the root a planned file comes from: `hostSource` minus its canonical `source`. */
export function hostRootOf(hostSource: string, source: string): string | null {
  return source.startsWith("/") && hostSource.endsWith(source) ? hostSource.slice(0, hostSource.length - source.length) : null;
}

// Copying a planned file without trusting its host path a second time: the root may change between
// the plan and the write (a library directory swapped for a symlink to the host's). The file is
// opened without following a symlink at its last component, and the opened descriptor must be the
// very inode the plan recorded (st_dev:st_ino) with the planned size; only then is it copied, from
// that descriptor. A symlinked directory on the way leads to another inode, so it is caught too.

import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { PathError, errnoText } from "../errors.js";
import { fileIdentity } from "./root.js";

export class ChangedWhileBundling extends PathError {
  override readonly name = "ChangedWhileBundling";
}

const CHUNK = 1 << 20;

/**
 * Copies the regular file at `hostSource` to the new file `target` (created, never replaced, with
 * `mode`). `identity` (dev:ino) and `size` are what the plan saw; null identity skips that check
 * (a file magicpak made itself, such as a UPX-packed copy). `shown` names the file in errors.
 * Reads at most size + 1 bytes, so a file that grows (or a pseudo-file that never ends) stops.
 */
export function copyPlannedFile(hostSource: string, target: string, options: { identity: string | null; size: number; mode: number; shown: string }): void {
  const { identity, size, shown } = options;
  let input: number;
  try {
    input = openSync(hostSource, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "ENOENT" || code === "ENOTDIR") throw new ChangedWhileBundling(shown, `changed while bundling (${errnoText(code)})`);
    throw new PathError(shown, `cannot open: ${errnoText(code) ?? String(error)}`);
  }
  try {
    const stats = fstatSync(input);
    if (!stats.isFile()) throw new ChangedWhileBundling(shown, "changed while bundling (no longer a regular file)");
    if (identity !== null && fileIdentity(stats) !== identity) throw new ChangedWhileBundling(shown, "changed while bundling (no longer the file that was analysed)");
    if (stats.size !== size) throw new ChangedWhileBundling(shown, `changed while bundling (size ${size} became ${stats.size})`);
    const output = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, options.mode & 0o777);
    try {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size + 1));
      let done = 0;
      for (;;) {
        const n = readSync(input, buffer, 0, Math.min(buffer.length, size + 1 - done), done);
        if (n === 0) break;
        done += n;
        if (done > size) throw new ChangedWhileBundling(shown, "changed while bundling (it grew)");
        let written = 0;
        while (written < n) written += writeSync(output, buffer, written, n - written);
      }
      if (done !== size) throw new ChangedWhileBundling(shown, `changed while bundling (size ${size} became ${done})`);
    } finally {
      closeSync(output);
    }
  } finally {
    closeSync(input);
  }
}

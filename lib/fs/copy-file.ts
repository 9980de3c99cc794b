// Copying a planned file without trusting its host path a second time: the root may change between
// the plan and the write (a library directory swapped for a symlink to the host's). The file is
// opened beneath the root following no symlink at any component (lib/fs/beneath.ts), and the opened
// descriptor must be the very inode the plan recorded (st_dev:st_ino) with the planned size; only
// then is it copied, from that descriptor. The copy is asynchronous, chunk by chunk, so SIGINT or
// SIGTERM during a large file is handled (cleanup, exit 130/143) at once, not after it.

import { closeSync, constants, fstatSync, open, openSync, read, write } from "node:fs";
import { promisify } from "node:util";
import { PathError, errnoText } from "../errors.js";
import { hostRootOf, openBeneath } from "./beneath.js";
import { fsPath } from "../fs-name.js";
import { fileIdentity } from "./root.js";

export class ChangedWhileBundling extends PathError {
  override readonly name = "ChangedWhileBundling";
}

const CHANGED = "changed while magicpak was running";
const CHUNK = 1 << 20;
const readAsync = promisify(read);
const writeAsync = promisify(write);
const openAsync = promisify(open);

export interface PlannedFile {
  /** Where the plan read it on the host. */
  hostSource: string;
  /** Its canonical path inside the root (names it in errors). */
  source: string;
  /** dev:ino the plan saw; null for a file magicpak made itself (no identity to keep). */
  identity: string | null;
  size: number;
}

/**
 * Opens a planned file for reading, beneath its root and following no link, and checks that it is
 * still the regular file of the plan's identity and size. Returns the descriptor (the caller
 * closes it); throws ChangedWhileBundling naming `source` otherwise.
 */
export function openPlannedFile(file: PlannedFile): number {
  const { source, identity, size } = file;
  const hostRoot = hostRootOf(file.hostSource, source);
  let fd: number;
  try {
    fd =
      hostRoot === null
        ? openSync(fsPath(file.hostSource), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY)
        : openBeneath(hostRoot, source, constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "ENOENT" || code === "ENOTDIR") throw new ChangedWhileBundling(source, `${CHANGED} (${errnoText(code)})`);
    throw new PathError(source, `cannot open: ${errnoText(code) ?? String(error)}`);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new ChangedWhileBundling(source, `${CHANGED} (no longer a regular file)`);
    if (identity !== null && fileIdentity(stats) !== identity) throw new ChangedWhileBundling(source, `${CHANGED} (no longer the file that was analysed)`);
    if (stats.size !== size) throw new ChangedWhileBundling(source, `${CHANGED} (size ${size} became ${stats.size})`);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/**
 * Reads exactly `size` bytes of the open planned file, in chunks (each a new buffer): at most size + 1
 * bytes are read, so a file that grows (or a pseudo-file that never ends) stops with ChangedWhileBundling.
 */
export async function* readPlannedChunks(fd: number, size: number, shown: string): AsyncGenerator<Buffer> {
  let done = 0;
  for (;;) {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size + 1 - done));
    const { bytesRead: n } = await readAsync(fd, buffer, 0, buffer.length, done);
    if (n === 0) break;
    done += n;
    if (done > size) throw new ChangedWhileBundling(shown, `${CHANGED} (it grew)`);
    yield buffer.subarray(0, n);
  }
  if (done !== size) throw new ChangedWhileBundling(shown, `${CHANGED} (size ${size} became ${done})`);
}

/**
 * Copies a planned file to the new file `target` (created, never replaced, with `mode`), chunk by
 * chunk and asynchronously, so a signal is handled during a large file rather than after it.
 */
export async function copyPlannedFile(file: PlannedFile, target: string, mode: number): Promise<void> {
  const input = openPlannedFile(file);
  try {
    const output = await openAsync(fsPath(target), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode & 0o777);
    try {
      for await (const chunk of readPlannedChunks(input, file.size, file.source)) {
        let written = 0;
        while (written < chunk.length) written += (await writeAsync(output, chunk, written, chunk.length - written)).bytesWritten;
      }
    } finally {
      closeSync(output);
    }
  } finally {
    closeSync(input);
  }
}

// A deterministic tar writer (POSIX ustar, with pax extended headers only where ustar cannot say
// it): owner 0:0 with no user or group names, one fixed mtime, the modes it is given. File contents
// are streamed from the host one file at a time, never read whole.

import { closeSync } from "node:fs";
import { open } from "node:fs/promises";
import { PathError } from "../errors.js";
import { openPlannedFile, readPlannedChunks, type PlannedFile } from "../fs/copy-file.js";
import { nameBytes } from "../fs-name.js";
import { ImageError } from "./errors.js";
import { present } from "../present.js";

export type TarEntry =
  | { type: "directory"; path: string; mode: number }
  /** Content given in memory (small: JSON, generated files). */
  | { type: "file"; path: string; mode: number; content: Buffer }
  /** Content streamed from `hostPath`; `source` names it in errors (default hostPath). */
  | { type: "file"; path: string; mode: number; hostPath: string; source?: string }
  /**
   * A file of the plan, streamed from its root: opened beneath the root following no link, and only
   * if it is still the inode (`identity`, dev:ino) of `size` bytes the plan recorded.
   */
  | { type: "file"; path: string; mode: number; planned: PlannedFile }
  | { type: "symlink"; path: string; target: string }
  /** A hard link to the earlier entry `target` (a path in the archive). */
  | { type: "hardlink"; path: string; mode: number; target: string };

export interface TarOptions {
  /** Seconds since the epoch for every entry. */
  mtime: number;
}

export const BLOCK = 512;
const END = Buffer.alloc(2 * BLOCK);
/** The largest value an 11-digit octal field holds (8 GiB - 1). */
const MAX_OCTAL_11 = 0o77777777777;

/**
 * The archive as a stream of chunks: entries in the order given (the caller sorts them; parents
 * before children), then the two zero blocks that end an archive.
 */
export async function* tarStream(entries: Iterable<TarEntry>, options: TarOptions): AsyncGenerator<Buffer> {
  if (!Number.isInteger(options.mtime) || options.mtime < 0 || options.mtime > MAX_OCTAL_11) {
    throw new ImageError(String(options.mtime), "the mtime must be a whole number of seconds from 0 to 8589934591");
  }
  for (const entry of entries) {
    const name = entry.type === "directory" ? `${entry.path.replace(/\/+$/, "")}/` : entry.path;
    if (name === "" || name === "/" || name.startsWith("/") || name.includes("\0")) throw new ImageError(entry.path, "not a relative archive path");
    switch (entry.type) {
      case "directory":
        yield* header({ name, mode: entry.mode, size: 0, typeflag: "5", linkname: "", mtime: options.mtime });
        break;
      case "symlink":
        yield* header({ name, mode: 0o777, size: 0, typeflag: "2", linkname: entry.target, mtime: options.mtime });
        break;
      case "hardlink":
        yield* header({ name, mode: entry.mode, size: 0, typeflag: "1", linkname: entry.target, mtime: options.mtime });
        break;
      case "file":
        if ("content" in entry) {
          yield* header({ name, mode: entry.mode, size: entry.content.length, typeflag: "0", linkname: "", mtime: options.mtime });
          if (entry.content.length > 0) yield entry.content;
          const pad = padding(entry.content.length);
          if (pad) yield pad;
        } else if ("planned" in entry) {
          yield* streamPlannedFile(name, entry.mode, entry.planned, options.mtime);
        } else {
          yield* streamFile(name, entry.mode, entry.hostPath, entry.source ?? entry.hostPath, options.mtime);
        }
        break;
    }
  }
  yield END;
}

/** One file: its size is taken when it is opened, and it must still have exactly that many bytes. */
async function* streamFile(name: string, mode: number, hostPath: string, source: string, mtime: number): AsyncGenerator<Buffer> {
  let handle;
  try {
    handle = await open(hostPath, "r");
  } catch (error) {
    throw new ImageError(source, `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new ImageError(source, "is no longer a regular file");
    const size = stats.size;
    yield* header({ name, mode, size, typeflag: "0", linkname: "", mtime });
    let written = 0;
    if (size > 0) {
      const stream = handle.createReadStream({ start: 0, end: size - 1, autoClose: false, highWaterMark: 1 << 20 });
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          written += chunk.length;
          yield chunk;
        }
      } catch (error) {
        if (error instanceof ImageError) throw error;
        throw new ImageError(source, `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      } finally {
        stream.destroy();
      }
    }
    if (written !== size) throw new ImageError(source, `changed while it was archived (${written} of ${size} bytes)`);
    const pad = padding(size);
    if (pad) yield pad;
  } finally {
    await handle.close();
  }
}

/** A planned file: never another inode than the plan's, never another size. */
async function* streamPlannedFile(name: string, mode: number, file: PlannedFile, mtime: number): AsyncGenerator<Buffer> {
  let fd: number;
  try {
    fd = openPlannedFile(file);
  } catch (error) {
    throw error instanceof PathError ? new ImageError(error.path, error.problem) : error;
  }
  try {
    yield* header({ name, mode, size: file.size, typeflag: "0", linkname: "", mtime });
    try {
      for await (const chunk of readPlannedChunks(fd, file.size, file.source)) yield chunk;
    } catch (error) {
      if (error instanceof PathError) throw new ImageError(error.path, error.problem);
      throw new ImageError(file.source, `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    const pad = padding(file.size);
    if (pad) yield pad;
  } finally {
    closeSync(fd);
  }
}

function padding(size: number): Buffer | null {
  const rest = size % BLOCK;
  return rest === 0 ? null : Buffer.alloc(BLOCK - rest);
}

interface Header {
  name: string;
  mode: number;
  size: number;
  /** "0" file, "1" hard link, "2" symlink, "5" directory, "x" pax extended header. */
  typeflag: string;
  linkname: string;
  mtime: number;
}

/** The header block(s) of one entry: a pax extended header first when ustar's fields are too small. */
function* header(h: Header): Generator<Buffer> {
  // Names are written as their exact bytes (a root's name may be invalid UTF-8: lib/fs-name.ts).
  const name = nameBytes(h.name);
  const linkname = nameBytes(h.linkname);
  const pax: [string, Buffer][] = [];
  const split = splitName(name);
  if (split === null) pax.push(["path", name]);
  if (linkname.length > 100) pax.push(["linkpath", linkname]);
  if (h.size > MAX_OCTAL_11) pax.push(["size", Buffer.from(String(h.size))]);
  // pax values are UTF-8 unless hdrcharset says BINARY (POSIX.1-2008 pax, "hdrcharset").
  if (pax.some(([, value]) => !Buffer.from(value.toString("utf8")).equals(value))) pax.unshift(["hdrcharset", Buffer.from("BINARY")]);
  if (pax.length > 0) {
    const records = Buffer.concat(pax.map(([key, value]) => paxRecord(key, value)));
    const base = truncate(`PaxHeaders/${present(h.name.replace(/\/$/, "").split("/").pop(), "the last name component")}`, 100);
    yield ustar({ ...h, mode: 0o644, size: records.length, typeflag: "x" }, { prefix: Buffer.alloc(0), name: base }, Buffer.alloc(0));
    yield records;
    const pad = padding(records.length);
    if (pad) yield pad;
  }
  yield ustar({ ...h, size: h.size > MAX_OCTAL_11 ? 0 : h.size }, split ?? { prefix: Buffer.alloc(0), name: truncate(h.name, 100) }, truncate(h.linkname, 100));
}

/** "LEN key=value\n", where LEN counts the whole record, its own digits included. */
function paxRecord(key: string, value: Buffer): Buffer {
  const bodyLength = key.length + value.length + 3; // " ", "=", "\n"
  let length = bodyLength + 1;
  while (bodyLength + String(length).length !== length) length = bodyLength + String(length).length;
  return Buffer.concat([Buffer.from(`${length} ${key}=`), value, Buffer.from("\n")]);
}

/** ustar's name (100 bytes) and prefix (155 bytes) split at a "/", or null when it does not fit. */
function splitName(name: Buffer): { prefix: Buffer; name: Buffer } | null {
  if (name.length <= 100) return { prefix: Buffer.alloc(0), name };
  if (name.length > 256) return null;
  // The directory slash of a directory name stays in the name part.
  for (let i = name.length - 2; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    const prefix = name.subarray(0, i);
    const rest = name.subarray(i + 1);
    if (rest.length > 100) return null;
    if (prefix.length <= 155 && rest.length > 0) return { prefix, name: rest };
  }
  return null;
}

/** The first bytes of a name, at most `max`, never cutting a character. */
function truncate(text: string, max: number): Buffer {
  let out = Buffer.alloc(0);
  for (const ch of text) {
    const next = Buffer.concat([out, nameBytes(ch)]);
    if (next.length > max) break;
    out = next;
  }
  return out;
}

function ustar(h: Header, names: { prefix: Buffer; name: Buffer }, linkname: Buffer): Buffer {
  const block = Buffer.alloc(BLOCK);
  names.name.copy(block, 0, 0, 100);
  octal(block, 100, 8, h.mode & 0o7777);
  octal(block, 108, 8, 0); // uid
  octal(block, 116, 8, 0); // gid
  octal(block, 124, 12, h.size);
  octal(block, 136, 12, h.mtime);
  block.write("        ", 148, 8, "latin1"); // checksum, counted as spaces
  block.write(h.typeflag, 156, 1, "latin1");
  linkname.copy(block, 157, 0, 100);
  block.write("ustar\0", 257, 6, "latin1");
  block.write("00", 263, 2, "latin1");
  // uname and gname (265, 297) stay empty: nothing is looked up by name when extracting.
  octal(block, 329, 8, 0); // devmajor
  octal(block, 337, 8, 0); // devminor
  names.prefix.copy(block, 345, 0, 155);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
  return block;
}

/** A zero-padded octal number filling `length - 1` digits, then NUL. */
function octal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, "0")}\0`, offset, length, "latin1");
}

import { closeSync, fstatSync, openSync, readSync, constants as fsConstants } from "node:fs";
import { decodeName, fsPath } from "../fs-name.js";
import { ElfError } from "./errors.js";
import { describeIoError } from "../errors.js";

/** The first block of a file is read in one call: it nearly always holds the header, the program headers and PT_INTERP. */
const HEAD_BLOCK = 4096;
/**
 * One head buffer serves every source: reading is synchronous, a source lives only while one file
 * is parsed, and parsers copy what they keep out of it (numbers and strings).
 */
const sharedHead = Buffer.allocUnsafe(HEAD_BLOCK);
let sharedHeadInUse = false;

/**
 * Positional, bounded reads from one open file. Reads only what is asked for; the first block is
 * kept because the ELF header, the program headers and the interpreter string are almost always in it.
 */
export class FileSource {
  readonly size: number;
  /** Total bytes read from disk through this source (for benchmarks). */
  bytesRead = 0;
  private readonly head: Buffer;
  private readonly ownsSharedHead: boolean;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    size: number,
  ) {
    this.size = size;
    const headLength = Math.min(size, HEAD_BLOCK);
    this.ownsSharedHead = !sharedHeadInUse;
    sharedHeadInUse = true;
    this.head = this.ownsSharedHead ? sharedHead.subarray(0, headLength) : Buffer.allocUnsafe(headLength);
    try {
      this.fill(this.head, 0);
    } catch (error) {
      if (this.ownsSharedHead) sharedHeadInUse = false;
      throw error;
    }
  }

  /**
   * Opens a regular file. When `hostPath` differs from `path` the caller has resolved the path inside
   * a root already, and a final symlink is then refused rather than followed out of it.
   */
  static open(path: string, hostPath: string = path): FileSource {
    let fd: number;
    const noFollow = hostPath !== path ? fsConstants.O_NOFOLLOW : 0;
    try {
      // O_NONBLOCK: opening a FIFO must not wait for a writer.
      fd = openSync(fsPath(hostPath), fsConstants.O_RDONLY | noFollow | fsConstants.O_NONBLOCK);
    } catch (error) {
      throw new ElfError(path, "io", describeIoError(error));
    }
    try {
      const stat = fstatSync(fd);
      if (stat.isDirectory()) throw new ElfError(path, "io", "is a directory");
      if (!stat.isFile()) throw new ElfError(path, "io", "not a regular file");
      return new FileSource(path, fd, stat.size);
    } catch (error) {
      closeSync(fd);
      if (error instanceof ElfError) throw error;
      throw new ElfError(path, "io", describeIoError(error));
    }
  }

  close(): void {
    if (this.ownsSharedHead) sharedHeadInUse = false;
    closeSync(this.fd);
  }

  /** Exactly `length` bytes at `offset`, or an ElfError naming what lies outside the file. */
  read(offset: number, length: number, what: string): Buffer {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new ElfError(this.path, "truncated", `${what} lies outside the file (offset ${offset}, ${length} bytes, file is ${this.size} bytes)`);
    }
    if (offset + length <= this.head.length) return this.head.subarray(offset, offset + length);
    const buffer = Buffer.allocUnsafe(length);
    this.fill(buffer, offset);
    return buffer;
  }

  /** A NUL-terminated string starting at `offset`, read in growing chunks, at most `limit` bytes long. */
  readCString(offset: number, limit: number, what: string): string {
    if (offset < 0 || offset >= this.size) {
      throw new ElfError(this.path, "bad-string", `${what} at offset ${offset} lies outside the file`);
    }
    let chunk = 128;
    for (;;) {
      const length = Math.min(chunk, this.size - offset, limit + 1);
      const bytes = this.read(offset, length, what);
      const end = bytes.indexOf(0);
      if (end >= 0) return decodeName(bytes, 0, end);
      if (length === this.size - offset || length > limit) {
        throw new ElfError(this.path, "bad-string", `${what} at offset ${offset} is not NUL-terminated within ${Math.min(limit, this.size - offset)} bytes`);
      }
      chunk *= 4;
    }
  }

  private fill(buffer: Buffer, offset: number): void {
    let done = 0;
    while (done < buffer.length) {
      let n: number;
      try {
        n = readSync(this.fd, buffer, done, buffer.length - done, offset + done);
      } catch (error) {
        throw new ElfError(this.path, "io", describeIoError(error));
      }
      if (n === 0) throw new ElfError(this.path, "truncated", `file shrank while reading at offset ${offset + done}`);
      done += n;
      this.bytesRead += n;
    }
  }
}

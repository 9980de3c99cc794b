// A tar reader that keeps names as bytes. Layers name files as bytes, and a name that is not valid
// UTF-8 (lib\xff.so) must reach the extracted root unchanged, or the loader's lookup of it fails.
// tar-stream decodes every name (and every pax value) as a JavaScript string first, which loses such
// bytes, so this reads the headers by hand: POSIX ustar (name + prefix), pax extended headers
// ("x", with "path", "linkpath" and "size"; "g" is read and ignored, as GNU tar does for these
// keys), and GNU long names ("L", "K") and base-256 sizes. Names come out as lib/fs-name.ts strings.
//
// readTar yields one entry at a time; its content must be read (or is skipped) before the next.

import { decodeName } from "../fs-name.js";
import { BLOCK } from "./tar.js";
/** A pax header or GNU long name bigger than this is refused: nothing real comes close. */
const MAX_META = 1 << 20;

export type TarType = "file" | "contiguous-file" | "link" | "symlink" | "character-device" | "block-device" | "directory" | "fifo" | "other";

export interface TarHeader {
  /** The entry's name, byte-exact (lib/fs-name.ts). */
  name: string;
  type: TarType;
  mode: number;
  size: number;
  /** A link's target, byte-exact; "" when there is none. */
  linkname: string;
}

export interface TarEntry {
  header: TarHeader;
  /** The entry's data, in chunks; at most once, before the next entry is asked for. */
  content(): AsyncIterable<Buffer>;
}

export class TarFormatError extends Error {}

const TYPES: Record<string, TarType> = {
  "0": "file",
  "\0": "file",
  "7": "contiguous-file",
  "1": "link",
  "2": "symlink",
  "3": "character-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
};

/** The entries of the tar archive read from `input`. */
export async function* readTar(input: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(input);
  let pax: Map<string, Buffer> | null = null;
  let longName: Buffer | null = null;
  let longLink: Buffer | null = null;
  for (;;) {
    const block = await reader.readOrEnd(BLOCK);
    if (block === null || block.every((b) => b === 0)) return; // the end-of-archive blocks (or a missing second one)
    checkChecksum(block);
    const magic = block.subarray(257, 263).toString("latin1");
    if (magic !== "ustar\0" && magic !== "ustar ") throw new TarFormatError("not a tar archive: a header without the ustar magic");
    const typeflag = String.fromCharCode(block[156] ?? 0);
    const size = numeric(block, 124, 12, "size");
    if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
      if (size > MAX_META) throw new TarFormatError(`an extended header of ${size} bytes (more than ${MAX_META})`);
      const data = await reader.read(size);
      await reader.skip(padding(size));
      if (typeflag === "x") pax = parsePax(data);
      else if (typeflag === "L") longName = cString(data, 0, size);
      else if (typeflag === "K") longLink = cString(data, 0, size);
      continue;
    }
    let nameBytes = longName ?? pax?.get("path") ?? null;
    if (nameBytes === null) {
      const name = cString(block, 0, 100);
      const prefix = magic === "ustar\0" ? cString(block, 345, 155) : Buffer.alloc(0);
      nameBytes = prefix.length > 0 ? Buffer.concat([prefix, Buffer.from("/"), name]) : name;
    }
    const linkBytes = longLink ?? pax?.get("linkpath") ?? cString(block, 157, 100);
    const paxSize = pax?.get("size");
    const dataSize = paxSize !== undefined ? decimal(paxSize) : size;
    pax = longName = longLink = null;
    const name = decodeName(nameBytes);
    let type = TYPES[typeflag] ?? "other";
    if (type === "file" && typeflag === "\0" && name.endsWith("/")) type = "directory"; // pre-POSIX archives mark directories by the slash
    let remaining = dataSize;
    let taken = false;
    const header: TarHeader = { name, type, mode: numeric(block, 100, 8, "mode"), size: dataSize, linkname: decodeName(linkBytes) };
    yield {
      header,
      content: () => {
        if (taken) throw new TarFormatError(`the data of ${name} was read twice`);
        taken = true;
        return (async function* () {
          for (; remaining > 0;) {
            const chunk = await reader.chunk(remaining);
            remaining -= chunk.length;
            yield chunk;
          }
        })();
      },
    };
    await reader.skip(remaining + padding(dataSize));
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The bytes up to the first NUL of `block[start, start + length)`. */
function cString(block: Buffer, start: number, length: number): Buffer {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return nul === -1 ? field : field.subarray(0, nul);
}

/** An octal field, or GNU's base-256 (the high bit of the first byte set). */
function numeric(block: Buffer, start: number, length: number, what: string): number {
  const field = block.subarray(start, start + length);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    if (((field[0] ?? 0) & 0x40) !== 0) throw new TarFormatError(`a negative ${what}`);
    let value = (field[0] ?? 0) & 0x3f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw new TarFormatError(`a ${what} beyond 2^53`);
    return value;
  }
  const text = field
    .toString("latin1")
    .replace(/[\0 ]+$/, "")
    .replace(/^ +/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`the ${what} field ${JSON.stringify(text)} is not octal`);
  return parseInt(text, 8);
}

function decimal(value: Buffer): number {
  const text = value.toString("latin1");
  if (!/^[0-9]{1,15}$/.test(text)) throw new TarFormatError(`the pax size ${JSON.stringify(text)} is not a decimal number`);
  return Number(text);
}

/** The header's checksum: the sum of its bytes with the checksum field as spaces (unsigned, or signed as some old tars wrote it). */
function checkChecksum(block: Buffer): void {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte >= 0x80 ? byte - 256 : byte;
  }
  const stored = numeric(block, 148, 8, "checksum");
  if (stored !== unsigned && stored !== signed) throw new TarFormatError("a header with a wrong checksum (corrupt, or not a tar archive)");
}

/** pax records "LENGTH KEY=VALUE\n", values as bytes (hdrcharset BINARY or UTF-8: decodeName keeps both). */
function parsePax(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) break; // NUL padding
    const space = data.indexOf(0x20, at);
    const length = space === -1 ? NaN : Number(data.subarray(at, space).toString("latin1"));
    if (!Number.isInteger(length) || length <= space - at + 1 || at + length > data.length || data[at + length - 1] !== 0x0a) throw new TarFormatError("a malformed pax extended header");
    const record = data.subarray(space + 1, at + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals <= 0) throw new TarFormatError("a malformed pax extended header record");
    records.set(record.subarray(0, equals).toString("utf8"), Buffer.from(record.subarray(equals + 1)));
    at += length;
  }
  return records;
}

/** Exact reads over an async stream of chunks. */
class ByteReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(input: AsyncIterable<Buffer>) {
    this.iterator = input[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.pending = this.pending.length === 0 ? next.value : Buffer.concat([this.pending, next.value]);
    return true;
  }

  /** `n` bytes, or null when the input ends before any of them (the archive's end without its end blocks). */
  async readOrEnd(n: number): Promise<Buffer | null> {
    if (this.pending.length === 0 && !(await this.fill())) return null;
    return this.read(n);
  }

  /** `n` bytes; a truncation error when the input ends before them. */
  async read(n: number): Promise<Buffer> {
    while (this.pending.length < n) if (!(await this.fill())) throw new TarFormatError("truncated: the archive ends inside an entry");
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return out;
  }

  /** Up to `max` bytes (at least one). */
  async chunk(max: number): Promise<Buffer> {
    if (this.pending.length === 0 && !(await this.fill())) throw new TarFormatError("truncated: the archive ends inside an entry");
    const out = this.pending.subarray(0, Math.min(max, this.pending.length));
    this.pending = this.pending.subarray(out.length);
    return out;
  }

  async skip(n: number): Promise<void> {
    for (let left = n; left > 0;) left -= (await this.chunk(left)).length;
  }
}

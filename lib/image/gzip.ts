// gzip whose bytes depend only on the input: a fixed header (no name, mtime 0, OS "Unix"), raw
// deflate from Node's zlib at a fixed level, then CRC-32 and length. The same input and the same
// zlib give the same bytes, so a gzipped layer has a stable digest.

import { Transform, type TransformCallback } from "node:stream";
import * as zlib from "node:zlib";

/**
 * The compression level of every gzipped layer (changing it changes every image digest): zlib's
 * default, as Docker and Go use. Level 9 takes 7x longer for 0.6% less on a python3 bundle
 * (84 MB of tar: 2 s and 28.0 MB against 15 s and 27.9 MB).
 */
const GZIP_LEVEL = 6;

/** ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=3 (Unix). XFL is 2 for the slowest level, 4 for the fastest. */
function gzipHeader(level: number): Buffer {
  const xfl = level >= 9 ? 2 : level === 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
}

/** A transform from raw bytes to gzip, with the fixed header above. */
export class StableGzip extends Transform {
  private crc = 0;
  private length = 0;
  private readonly deflate: zlib.DeflateRaw;

  constructor(level: number = GZIP_LEVEL) {
    super();
    this.deflate = zlib.createDeflateRaw({ level, windowBits: 15, memLevel: 8, strategy: zlib.constants.Z_DEFAULT_STRATEGY });
    this.deflate.on("data", (chunk: Buffer) => this.push(chunk));
    this.deflate.on("error", (error) => this.destroy(error));
    this.push(gzipHeader(level));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.crc = crc32(chunk, this.crc);
    this.length = (this.length + chunk.length) % 2 ** 32;
    this.deflate.write(chunk, (error) => callback(error ?? null));
  }

  override _flush(callback: TransformCallback): void {
    this.deflate.once("end", () => {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.length, 4);
      this.push(trailer);
      callback();
    });
    this.deflate.end();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.deflate.destroy();
    callback(error);
  }
}

let table: Uint32Array | null = null;

/** CRC-32 (the gzip one): Node's zlib.crc32 where it exists (>= 20.15), else crc32Table. */
export function crc32(data: Buffer, value = 0): number {
  const native = (zlib as { crc32?: (data: Buffer, value?: number) => number }).crc32;
  return native ? native(data, value) : crc32Table(data, value);
}

/** CRC-32 from a table, for a Node without zlib.crc32. */
export function crc32Table(data: Buffer, value = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = ~value >>> 0;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

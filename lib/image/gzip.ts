// gzip whose bytes depend only on the input, from Node's zlib: its gzip header has no name,
// mtime 0 and OS 3 (Unix), so the same input and the same zlib give the same bytes, and a
// gzipped layer has a stable digest.

import { Transform, type TransformCallback } from "node:stream";
import * as zlib from "node:zlib";

/**
 * The compression level of every gzipped layer (changing it changes every image digest): zlib's
 * default, as Docker and Go use. Level 9 takes 7x longer for 0.6% less on a python3 bundle
 * (84 MB of tar: 2 s and 28.0 MB against 15 s and 27.9 MB).
 */
const GZIP_LEVEL = 6;

/** A transform from raw bytes to gzip: zlib's gzip stream at a fixed level. */
export class StableGzip extends Transform {
  private readonly gzip: zlib.Gzip;

  constructor(level: number = GZIP_LEVEL) {
    super();
    this.gzip = zlib.createGzip({ level });
    this.gzip.on("data", (chunk: Buffer) => this.push(chunk));
    this.gzip.on("error", (error) => this.destroy(error));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.gzip.write(chunk, (error) => callback(error ?? null));
  }

  override _flush(callback: TransformCallback): void {
    this.gzip.once("end", () => callback());
    this.gzip.end();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.gzip.destroy();
    callback(error);
  }
}

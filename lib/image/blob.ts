// Content-addressed blobs: bytes are hashed as they stream past, written to a temporary name in
// blobs/sha256/ and renamed to their digest once complete.

import { createHash, type Hash } from "node:crypto";
import { createWriteStream, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StableGzip } from "./gzip.js";
import { tarStream, type TarEntry } from "./tar.js";

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** Passes bytes through, counting and hashing them. */
class Digester extends Transform {
  private readonly hash: Hash = createHash("sha256");
  size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  /** "sha256:<hex>", once the stream has ended. */
  digest(): string {
    return `sha256:${this.hash.digest("hex")}`;
  }
}

export function sha256(content: Buffer): string {
  return `sha256:${createHash("sha256").update(content).digest("hex")}`;
}

/** The hex part of a "sha256:<hex>" digest: a blob's file name. */
export function digestHex(digest: string): string {
  return digest.replace(/^sha256:/, "");
}

export function blobPath(blobs: string, digest: string): string {
  return join(blobs, digestHex(digest));
}

/** Writes `content` to blobs/sha256/<hex> (`blobs` is that directory). */
export function writeBlob(blobs: string, mediaType: string, content: Buffer): Descriptor {
  const digest = sha256(content);
  writeFileSync(blobPath(blobs, digest), content, { mode: 0o644 });
  return { mediaType, digest, size: content.length };
}

interface LayerBlob {
  /** Of the bytes written (compressed when gzipped). */
  digest: string;
  size: number;
  /** Of the uncompressed tar: the config's rootfs.diff_ids entry. */
  diffId: string;
  /** Where it was written. */
  path: string;
}

/**
 * Writes the tar of `entries` into `dir`, gzipped or not, in one streaming pass, and names it by
 * its digest (`<hex>`) or by `name` when given.
 */
export async function writeLayerBlob(dir: string, entries: TarEntry[], options: { mtime: number; gzip: boolean; name?: string }): Promise<LayerBlob> {
  const temporary = join(dir, ".layer.partial");
  const uncompressed = new Digester();
  const written = options.gzip ? new Digester() : uncompressed;
  const tar = tarStream(entries, { mtime: options.mtime });
  const file = createWriteStream(temporary, { flags: "wx", mode: 0o644 });
  if (options.gzip) await pipeline(tar, uncompressed, new StableGzip(), written, file);
  else await pipeline(tar, uncompressed, file);
  const diffId = uncompressed.digest();
  const digest = options.gzip ? written.digest() : diffId;
  const path = join(dir, options.name ?? digestHex(digest));
  renameSync(temporary, path);
  return { digest, size: written.size, diffId, path };
}

// The OCI image layout (a directory) and the OCI archive (that layout as a tar): one gzipped layer
// holding the bundle, its config, a manifest, index.json and oci-layout.

import { chmodSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FileGraph } from "../graph/file-graph.js";
import { blobPath, digestHex, writeBlob, writeLayerBlob, type Descriptor } from "./blob.js";
import { imageConfig, MEDIA, normalizeImageOptions, OCI_LAYOUT, ociIndex, ociManifest, type ImageOptions, type NormalizedImage } from "./config.js";
import { intoDirectory, intoFile } from "./destination.js";
import { layerEntries } from "./layer.js";
import { writeTar } from "./archive.js";
import type { TarEntry } from "./tar.js";

export interface ImageResult {
  /** The absolute path written. */
  path: string;
  /**
   * OCI layout and archive: the manifest digest (skopeo inspect's Digest). Docker archive: the
   * image ID, i.e. the config digest (what `docker load` prints as "Loaded image ID").
   */
  digest: string;
  /** The manifest (OCI only). */
  manifest: Descriptor | null;
  config: Descriptor;
  /** The layer as stored: gzipped in OCI, a plain tar in a Docker archive. diffId is the plain tar's digest. */
  layer: Descriptor & { diffId: string };
}

/** Writes an OCI image layout into `dir` (absent or empty). */
export async function writeOciLayout(graph: FileGraph, dir: string, options: ImageOptions): Promise<ImageResult> {
  const image = normalizeImageOptions(options);
  const entries = layerEntries(graph);
  const { path, result } = await intoDirectory(dir, (staging) => buildLayout(entries, staging, image));
  return { ...result, path };
}

/** Writes an OCI archive (oci-archive: the layout as a tar) to `file`, replacing a regular file there. */
export async function writeOciArchive(graph: FileGraph, file: string, options: ImageOptions): Promise<ImageResult> {
  const image = normalizeImageOptions(options);
  const entries = layerEntries(graph);
  const { path, result } = await intoFile(file, async (staging, out) => {
    const layout = join(staging, "layout");
    mkdirSync(layout, { mode: 0o755 });
    const built = await buildLayout(entries, layout, image);
    await writeTar(out, layoutEntries(layout, built), image.created);
    return built;
  });
  return { ...result, path };
}

/** The layout's files in the archive, sorted: blobs/, blobs/sha256/, the blobs, index.json, oci-layout. */
function layoutEntries(layout: string, built: Omit<ImageResult, "path">): TarEntry[] {
  const blobs = join(layout, "blobs/sha256");
  const digests = [...new Set([built.layer.digest, built.config.digest, built.manifest!.digest])].sort();
  return [
    { type: "directory", path: "blobs", mode: 0o755 },
    { type: "directory", path: "blobs/sha256", mode: 0o755 },
    ...digests.map((d): TarEntry => ({ type: "file", path: `blobs/sha256/${digestHex(d)}`, mode: 0o644, hostPath: blobPath(blobs, d) })),
    { type: "file", path: "index.json", mode: 0o644, hostPath: join(layout, "index.json") },
    { type: "file", path: "oci-layout", mode: 0o644, hostPath: join(layout, "oci-layout") },
  ];
}

async function buildLayout(entries: TarEntry[], dir: string, image: NormalizedImage): Promise<Omit<ImageResult, "path">> {
  const blobs = join(dir, "blobs/sha256");
  mkdirSync(blobs, { recursive: true, mode: 0o755 });
  const layer = await writeLayerBlob(blobs, entries, { mtime: image.created, gzip: true });
  const layerDescriptor = { mediaType: MEDIA.layerGzip, digest: layer.digest, size: layer.size };
  const config = writeBlob(blobs, MEDIA.config, imageConfig(image, layer.diffId));
  const manifest = writeBlob(blobs, MEDIA.manifest, ociManifest(image, config, layerDescriptor));
  writeFileSync(join(dir, "index.json"), ociIndex(image, manifest), { mode: 0o644 });
  writeFileSync(join(dir, "oci-layout"), OCI_LAYOUT, { mode: 0o644 });
  fixModesAndTimes(dir, image.created);
  return { digest: manifest.digest, manifest, config, layer: { ...layerDescriptor, diffId: layer.diffId } };
}

/** Directories 0755, files 0644 and one mtime (the image's), whatever the umask and the clock. */
function fixModesAndTimes(dir: string, mtime: number): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) fixModesAndTimes(path, mtime);
    else {
      chmodSync(path, 0o644);
      utimesSync(path, mtime, mtime);
    }
  }
  chmodSync(dir, 0o755);
  utimesSync(dir, mtime, mtime);
}

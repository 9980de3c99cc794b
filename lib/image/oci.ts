// The OCI image layout (a directory) and the OCI archive (that layout as a tar): one gzipped layer
// holding the bundle, its config, a manifest, index.json and oci-layout.

import { chmodSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FileGraph } from "../graph/file-graph.js";
import { blobPath, digestHex, writeBlob, writeLayerBlob, type Descriptor } from "./blob.js";
import { artifactManifest, imageConfig, MEDIA, normalizeImageOptions, OCI_LAYOUT, ociIndex, ociLayoutIndex, ociManifest, ociPlatformIndex, type ImageOptions, type NormalizedImage } from "./config.js";
import { intoDirectory, intoFile } from "./destination.js";
import { layerEntries } from "./layer.js";
import { ImageError } from "./errors.js";
import { writeTar } from "./archive.js";
import type { TarEntry } from "./tar.js";
import { present } from "../present.js";

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
  /** OCI only: the manifests of the attached artifacts (ImageOptions.attachments), in order. */
  attachments: (Descriptor & { artifactType: string; blob: Descriptor })[];
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
  const attached = built.attachments.flatMap((a) => [a.digest, a.blob.digest, EMPTY_DIGEST]);
  const digests = [...new Set([built.layer.digest, built.config.digest, present(built.manifest, "the OCI manifest").digest, ...attached])].sort();
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
  const attachments: ImageResult["attachments"] = [];
  for (const attachment of image.attachments) {
    const empty = writeBlob(blobs, MEDIA.empty, EMPTY);
    const blob = writeBlob(blobs, attachment.mediaType, attachment.content);
    const written = writeBlob(blobs, MEDIA.manifest, artifactManifest(image, attachment.artifactType, empty, blob, manifest, attachment.annotations));
    attachments.push({ ...written, artifactType: attachment.artifactType, blob });
  }
  writeFileSync(join(dir, "index.json"), ociIndex(image, manifest, attachments), { mode: 0o644 });
  writeFileSync(join(dir, "oci-layout"), OCI_LAYOUT, { mode: 0o644 });
  fixModesAndTimes(dir, image.created);
  return { digest: manifest.digest, manifest, config, layer: { ...layerDescriptor, diffId: layer.diffId }, attachments };
}

/** The empty JSON object, the config of an artifact manifest (image-spec's empty descriptor). */
const EMPTY = Buffer.from("{}");
const EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/** One platform's image of a multi-platform index: its bundle and its options. */
export interface PlatformImage {
  graph: FileGraph;
  options: ImageOptions;
}

export interface MultiImageResult {
  path: string;
  /** The image index's digest (what a registry would call the index digest). */
  digest: string;
  index: Descriptor;
  /** Each platform's image, in the order given. */
  images: Omit<ImageResult, "path">[];
}

/** Writes an OCI image layout whose index.json lists one manifest per platform (absent or empty `dir`). */
export async function writeOciLayoutIndex(images: PlatformImage[], dir: string): Promise<MultiImageResult> {
  const prepared = prepareMulti(images);
  const { path, result } = await intoDirectory(dir, (staging) => buildMultiLayout(prepared, staging));
  return { ...result, path };
}

/** The OCI archive of writeOciLayoutIndex's layout. */
export async function writeOciArchiveIndex(images: PlatformImage[], file: string): Promise<MultiImageResult> {
  const prepared = prepareMulti(images);
  const created = present(prepared[0], "the first platform's image").image.created;
  const { path, result } = await intoFile(file, async (staging, out) => {
    const layout = join(staging, "layout");
    mkdirSync(layout, { mode: 0o755 });
    const built = await buildMultiLayout(prepared, layout);
    const blobs = join(layout, "blobs/sha256");
    const digests = [...new Set([built.index.digest, ...built.images.flatMap((i) => [i.layer.digest, i.config.digest, present(i.manifest, "a platform's OCI manifest").digest])])].sort();
    await writeTar(
      out,
      [
        { type: "directory", path: "blobs", mode: 0o755 },
        { type: "directory", path: "blobs/sha256", mode: 0o755 },
        ...digests.map((d): TarEntry => ({ type: "file", path: `blobs/sha256/${digestHex(d)}`, mode: 0o644, hostPath: blobPath(blobs, d) })),
        { type: "file", path: "index.json", mode: 0o644, hostPath: join(layout, "index.json") },
        { type: "file", path: "oci-layout", mode: 0o644, hostPath: join(layout, "oci-layout") },
      ],
      created,
    );
    return built;
  });
  return { ...result, path };
}

function prepareMulti(images: PlatformImage[]): { image: NormalizedImage; entries: TarEntry[] }[] {
  if (images.length === 0) throw new ImageError("index", "at least one image is needed");
  return images.map(({ graph, options }) => ({ image: normalizeImageOptions(options), entries: layerEntries(graph) }));
}

async function buildMultiLayout(prepared: { image: NormalizedImage; entries: TarEntry[] }[], dir: string): Promise<{ digest: string; index: Descriptor; images: Omit<ImageResult, "path">[] }> {
  const blobs = join(dir, "blobs/sha256");
  mkdirSync(blobs, { recursive: true, mode: 0o755 });
  const images: Omit<ImageResult, "path">[] = [];
  const platformManifests: { image: NormalizedImage; manifest: Descriptor }[] = [];
  for (const { image, entries } of prepared) {
    const layer = await writeLayerBlob(blobs, entries, { mtime: image.created, gzip: true });
    const layerDescriptor = { mediaType: MEDIA.layerGzip, digest: layer.digest, size: layer.size };
    const config = writeBlob(blobs, MEDIA.config, imageConfig(image, layer.diffId));
    const manifest = writeBlob(blobs, MEDIA.manifest, ociManifest(image, config, layerDescriptor));
    images.push({ digest: manifest.digest, manifest, config, layer: { ...layerDescriptor, diffId: layer.diffId }, attachments: [] });
    platformManifests.push({ image, manifest });
  }
  const index = writeBlob(blobs, MEDIA.index, ociPlatformIndex(platformManifests));
  writeFileSync(join(dir, "index.json"), ociLayoutIndex(present(prepared[0], "the first platform's image").image, index), { mode: 0o644 });
  writeFileSync(join(dir, "oci-layout"), OCI_LAYOUT, { mode: 0o644 });
  return { digest: index.digest, index, images };
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

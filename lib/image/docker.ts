// The Docker archive (`docker save`'s format, which `docker load`, `podman load` and skopeo's
// docker-archive: read): manifest.json naming the config and the layer, the config as <hex>.json,
// the layer as an uncompressed <id>/layer.tar with the legacy <id>/VERSION and <id>/json, and the
// legacy `repositories` when the image has a tag.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { FileGraph } from "../graph/file-graph.js";
import { byPath } from "../graph/paths.js";
import { writeTar } from "./archive.js";
import { digestHex, sha256, writeLayerBlob } from "./blob.js";
import { dockerLayerJson, dockerManifest, dockerRepositories, imageConfig, MEDIA, normalizeImageOptions, type ImageOptions } from "./config.js";
import { intoFile } from "./destination.js";
import { layerEntries } from "./layer.js";
import type { ImageResult } from "./oci.js";
import type { TarEntry } from "./tar.js";

/** Writes a Docker archive to `file`, replacing a regular file there. `digest` is the image ID. */
export async function writeDockerArchive(graph: FileGraph, file: string, options: ImageOptions): Promise<ImageResult> {
  const image = normalizeImageOptions(options);
  const entries = layerEntries(graph);
  const { path, result } = await intoFile(file, async (staging, out) => {
    const work = join(staging, "layer");
    mkdirSync(work, { mode: 0o755 });
    const layer = await writeLayerBlob(work, entries, { mtime: image.created, gzip: false, name: "layer.tar" });
    // The legacy layer ID: any 64 hex digits unique in the archive; the layer's own digest is.
    const layerId = digestHex(layer.diffId);
    const config = imageConfig(image, layer.diffId);
    const configDigest = sha256(config);
    const configName = `${digestHex(configDigest)}.json`;
    const repositories = dockerRepositories(image, layerId);
    const members: TarEntry[] = [
      { type: "directory", path: layerId, mode: 0o755 },
      { type: "file", path: `${layerId}/VERSION`, mode: 0o644, content: Buffer.from("1.0") },
      { type: "file", path: `${layerId}/json`, mode: 0o644, content: dockerLayerJson(image, layerId) },
      { type: "file", path: `${layerId}/layer.tar`, mode: 0o644, hostPath: layer.path },
      { type: "file", path: configName, mode: 0o644, content: config },
      { type: "file", path: "manifest.json", mode: 0o644, content: dockerManifest(image, configName, `${layerId}/layer.tar`) },
      ...(repositories ? [{ type: "file", path: "repositories", mode: 0o644, content: repositories } as const] : []),
    ];
    members.sort(byPath);
    await writeTar(out, members, image.created);
    return {
      digest: configDigest,
      manifest: null,
      config: { mediaType: MEDIA.config, digest: configDigest, size: config.length },
      layer: { mediaType: MEDIA.layerTar, digest: layer.digest, size: layer.size, diffId: layer.diffId },
      attachments: [],
    };
  });
  return { ...result, path };
}

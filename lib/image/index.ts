// Container images without a container engine: the bundle as an OCI image layout, an OCI archive
// or a Docker archive, byte for byte reproducible.

export { writeOciLayout, writeOciArchive, type ImageResult } from "./oci.js";
export { writeDockerArchive } from "./docker.js";
export { imageDefaults, imageEntrypoint, imagePlatform, type ImagePlatform } from "./platform.js";
export { DEFAULT_PATH, type ImageOptions } from "./config.js";
export { layerEntries } from "./layer.js";
export { tarStream, type TarEntry } from "./tar.js";
export { StableGzip } from "./gzip.js";
export type { Descriptor } from "./blob.js";
export { ImageError } from "./errors.js";

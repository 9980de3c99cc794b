// The image's options, checked and normalised once, and the JSON documents made from them: the
// image config, the OCI manifest and index, Docker's manifest.json. Every document is serialised
// with a fixed key order and no whitespace, so its digest depends only on the options and layer.

import { posix } from "node:path";
import { VERSION } from "../version.js";
import type { Descriptor } from "./blob.js";
import { ImageError } from "./errors.js";
import { DEFAULT_PATH } from "../graph/paths.js";
import { sourceDateEpoch } from "../environment.js";

export interface ImageOptions {
  /** The image's Entrypoint: the installed executable's path first (see imageDefaults). */
  entrypoint: string[];
  /** Cmd: the default arguments after the entrypoint. */
  cmd?: string[];
  /** NAME=VALUE entries after the default PATH; a PATH entry replaces the default. */
  env?: string[];
  /** Default "/"; must be absolute. */
  workdir?: string;
  /** "uid", "uid:gid", "name" or "name:group". */
  user?: string;
  labels?: Record<string, string>;
  /** ExposedPorts: "80/tcp", "53/udp", "8080" (tcp). */
  exposedPorts?: string[];
  /** Volumes: absolute paths. */
  volumes?: string[];
  /** StopSignal: "SIGTERM", "SIGQUIT", "15", ... */
  stopSignal?: string;
  /**
   * An image reference such as "jq", "jq:1.7" or "registry.example/team/jq:1.7". OCI: the
   * manifest's org.opencontainers.image.ref.name, as given. Docker archive: RepoTags, with
   * ":latest" added when there is no tag.
   */
  tag?: string;
  /** GOARCH spelling: amd64, arm64, arm, 386, ppc64le, s390x, riscv64, ... (see imagePlatform). */
  architecture: string;
  /** v8 for arm64, v7 for arm (hard float), ... */
  variant?: string;
  os: "linux";
  /** Seconds since the epoch for config.created, history and every file's mtime. Default: SOURCE_DATE_EPOCH, else 0. */
  created?: number;
  /** history[0].created_by (default "magicpak VERSION"). */
  createdBy?: string;
  /**
   * OCI only: artifacts attached to the image (an SBOM): each is a manifest of its own whose
   * `subject` is the image manifest, listed in index.json after the image.
   */
  attachments?: ImageAttachment[];
}

/** An artifact referring to the image: one blob of `mediaType`, typed `artifactType`. */
export interface ImageAttachment {
  artifactType: string;
  mediaType: string;
  content: Buffer;
  annotations?: Record<string, string>;
}

export { DEFAULT_PATH, sourceDateEpoch };

export interface NormalizedImage {
  entrypoint: string[];
  cmd: string[] | undefined;
  env: string[];
  workdir: string;
  user: string | undefined;
  labels: Record<string, string> | undefined;
  exposedPorts: string[] | undefined;
  volumes: string[] | undefined;
  stopSignal: string | undefined;
  /** As given (OCI ref.name). */
  refName: string | undefined;
  /** name:tag (Docker RepoTags). */
  repoTag: string | undefined;
  architecture: string;
  variant: string | undefined;
  os: "linux";
  created: number;
  createdBy: string;
  attachments: ImageAttachment[];
}

export function normalizeImageOptions(options: ImageOptions): NormalizedImage {
  const strings = (what: string, list: unknown): string[] => {
    if (!Array.isArray(list) || list.some((s) => typeof s !== "string" || s.includes("\0"))) throw new ImageError(what, "must be a list of strings without NUL");
    return [...(list as string[])];
  };
  const entrypoint = strings("entrypoint", options.entrypoint);
  if (entrypoint.length === 0 || entrypoint[0] === "") throw new ImageError("entrypoint", "must name the program to run");
  const cmd = options.cmd === undefined ? undefined : strings("--cmd", options.cmd);
  const env = [DEFAULT_PATH];
  for (const entry of strings("--env", options.env ?? [])) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new ImageError(`--env ${entry}`, "expected NAME=VALUE");
    const name = entry.slice(0, eq);
    const at = env.findIndex((e) => e.slice(0, e.indexOf("=")) === name);
    if (at >= 0) env[at] = entry;
    else env.push(entry);
  }
  const workdir = options.workdir ?? "/";
  if (!workdir.startsWith("/") || workdir.includes("\0")) throw new ImageError(`--workdir ${workdir}`, "must be an absolute path");
  const user = options.user;
  if (user !== undefined && (user === "" || /[\0\s]/.test(user) || user.split(":").length > 2)) throw new ImageError(`--user ${user}`, "expected USER or USER:GROUP (names or numbers)");
  let labels: Record<string, string> | undefined;
  if (options.labels !== undefined) {
    labels = {};
    for (const key of Object.keys(options.labels).sort()) {
      const value = options.labels[key];
      if (key === "" || typeof value !== "string") throw new ImageError(`--label ${key}`, "expected KEY=VALUE");
      labels[key] = value;
    }
  }
  let exposedPorts: string[] | undefined;
  if (options.exposedPorts !== undefined) {
    exposedPorts = [...new Set(strings("exposed ports", options.exposedPorts).map((p) => (p.includes("/") ? p : `${p}/tcp`)))].sort();
    for (const port of exposedPorts) if (!/^\d{1,5}(-\d{1,5})?\/(tcp|udp|sctp)$/.test(port)) throw new ImageError(`exposed port ${port}`, "expected PORT[/tcp|udp|sctp]");
  }
  let volumes: string[] | undefined;
  if (options.volumes !== undefined) {
    volumes = [...new Set(strings("volumes", options.volumes))].sort();
    for (const volume of volumes) if (!volume.startsWith("/")) throw new ImageError(`volume ${volume}`, "must be an absolute path");
  }
  const stopSignal = options.stopSignal;
  if (stopSignal !== undefined && !/^(SIG)?[A-Z0-9+-]+$|^\d+$/.test(stopSignal)) throw new ImageError(`stop signal ${stopSignal}`, "expected a signal name or number");
  const tag = options.tag === undefined ? undefined : parseReference(options.tag);
  if (typeof options.architecture !== "string" || !/^[a-z0-9_]+$/.test(options.architecture)) throw new ImageError(String(options.architecture), "not an image architecture");
  if (options.variant !== undefined && !/^[a-z0-9]+$/.test(options.variant)) throw new ImageError(options.variant, "not an architecture variant");
  if (options.os !== "linux") throw new ImageError(String(options.os), "only linux images are made");
  return {
    entrypoint,
    cmd,
    env,
    workdir: posix.normalize(workdir),
    user,
    labels,
    exposedPorts,
    volumes,
    stopSignal,
    refName: tag?.given,
    repoTag: tag?.repoTag,
    architecture: options.architecture,
    variant: options.variant,
    os: options.os,
    created: options.created ?? sourceDateEpoch(),
    createdBy: options.createdBy ?? `magicpak ${VERSION}`,
    attachments: [...(options.attachments ?? [])],
  };
}

// distribution/reference's grammar: [domain[:port]/]component(/component)*[:tag], no digests.
const DOMAIN = String.raw`(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?`;
const COMPONENT = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`;
const REFERENCE = new RegExp(String.raw`^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*(?::[\w][\w.-]{0,127})?$`);

/** Checks an image reference (--tag); throws ImageError for an invalid one. */
export function parseReference(given: string): { given: string; repoTag: string } {
  const slash = given.lastIndexOf("/");
  const hasTag = given.indexOf(":", slash + 1) !== -1;
  if (!REFERENCE.test(given) || given.length > 255) throw new ImageError(`--tag ${given}`, "not a valid image reference (NAME[:TAG], lower-case name)");
  return { given, repoTag: hasTag ? given : `${given}:latest` };
}

function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, "Z");
}

export const MEDIA = {
  empty: "application/vnd.oci.empty.v1+json",
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

/** The runtime part of the config (Docker's ContainerConfig field names). */
function runConfig(image: NormalizedImage): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  if (image.user !== undefined) config["User"] = image.user;
  if (image.exposedPorts !== undefined) config["ExposedPorts"] = Object.fromEntries(image.exposedPorts.map((p) => [p, {}]));
  config["Env"] = image.env;
  config["Entrypoint"] = image.entrypoint;
  if (image.cmd !== undefined) config["Cmd"] = image.cmd;
  if (image.volumes !== undefined) config["Volumes"] = Object.fromEntries(image.volumes.map((v) => [v, {}]));
  config["WorkingDir"] = image.workdir;
  if (image.labels !== undefined) config["Labels"] = image.labels;
  if (image.stopSignal !== undefined) config["StopSignal"] = image.stopSignal;
  return config;
}

/** The image config (application/vnd.oci.image.config.v1+json, which Docker reads as its own). */
export function imageConfig(image: NormalizedImage, diffId: string): Buffer {
  const created = isoTime(image.created);
  const config: Record<string, unknown> = { created, architecture: image.architecture };
  if (image.variant !== undefined) config["variant"] = image.variant;
  config["os"] = image.os;
  config["config"] = runConfig(image);
  config["rootfs"] = { type: "layers", diff_ids: [diffId] };
  config["history"] = [{ created, created_by: image.createdBy, comment: "the bundle: one layer" }];
  return Buffer.from(JSON.stringify(config));
}

export function ociManifest(image: NormalizedImage, config: Descriptor, layer: Descriptor): Buffer {
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    annotations: { "org.opencontainers.image.created": isoTime(image.created) },
  };
  return Buffer.from(JSON.stringify(manifest));
}

function ociPlatform(image: NormalizedImage): Record<string, string> {
  return { architecture: image.architecture, os: image.os, ...(image.variant !== undefined ? { variant: image.variant } : {}) };
}

/**
 * An artifact manifest (image-spec 1.1): the empty config, the artifact's blob as its one layer,
 * and the image manifest as its subject, which the referrers of the image are found by.
 */
export function artifactManifest(image: NormalizedImage, artifactType: string, empty: Descriptor, blob: Descriptor, subject: Descriptor, annotations: Record<string, string> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      artifactType,
      config: { mediaType: empty.mediaType, digest: empty.digest, size: empty.size },
      layers: [{ mediaType: blob.mediaType, digest: blob.digest, size: blob.size }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: { "org.opencontainers.image.created": isoTime(image.created), ...annotations },
    }),
  );
}

/**
 * index.json of the layout: the image manifest, with its platform and, for --tag, its ref.name;
 * then the artifacts referring to it (with their artifactType, without a ref.name).
 */
export function ociIndex(image: NormalizedImage, manifest: Descriptor, artifacts: (Descriptor & { artifactType: string })[] = []): Buffer {
  const descriptor: Record<string, unknown> = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, platform: ociPlatform(image) };
  if (image.refName !== undefined) descriptor["annotations"] = { "org.opencontainers.image.ref.name": image.refName };
  const referrers = artifacts.map((a) => ({ mediaType: a.mediaType, digest: a.digest, size: a.size, artifactType: a.artifactType }));
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [descriptor, ...referrers] }));
}

/** The image index of a multi-platform image: one manifest descriptor per platform, in the order given. */
export function ociPlatformIndex(images: { image: NormalizedImage; manifest: Descriptor }[]): Buffer {
  const manifests = images.map(({ image, manifest }) => ({ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, platform: ociPlatform(image) }));
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests }));
}

/** index.json of a multi-platform layout: the one image index (as skopeo and buildkit write it), with ref.name for --tag. */
export function ociLayoutIndex(image: NormalizedImage, index: Descriptor): Buffer {
  const descriptor: Record<string, unknown> = { mediaType: index.mediaType, digest: index.digest, size: index.size };
  if (image.refName !== undefined) descriptor["annotations"] = { "org.opencontainers.image.ref.name": image.refName };
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [descriptor] }));
}

export const OCI_LAYOUT = Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" }));

/** `docker save`'s manifest.json. */
export function dockerManifest(image: NormalizedImage, configPath: string, layerPath: string): Buffer {
  return Buffer.from(JSON.stringify([{ Config: configPath, RepoTags: image.repoTag !== undefined ? [image.repoTag] : [], Layers: [layerPath] }]));
}

/** The legacy `repositories` file: {"name": {"tag": "<layer id>"}}; none without a tag, as `docker save`. */
export function dockerRepositories(image: NormalizedImage, layerId: string): Buffer | null {
  if (image.repoTag === undefined) return null;
  const colon = image.repoTag.lastIndexOf(":");
  return Buffer.from(JSON.stringify({ [image.repoTag.slice(0, colon)]: { [image.repoTag.slice(colon + 1)]: layerId } }));
}

/** The legacy per-layer `json` of `docker save` (v1 image JSON of the top layer). */
export function dockerLayerJson(image: NormalizedImage, layerId: string): Buffer {
  const json: Record<string, unknown> = { id: layerId, created: isoTime(image.created), container_config: { Cmd: null }, config: runConfig(image), architecture: image.architecture };
  if (image.variant !== undefined) json["variant"] = image.variant;
  json["os"] = image.os;
  return Buffer.from(JSON.stringify(json));
}

// Reading an existing image without a container engine (--from-image): an OCI image layout
// (DIR or DIR:TAG), an OCI archive or a Docker archive (`docker save`). Archives are indexed once
// into a private directory (only names of the formats' own shape are kept); the selected platforms'
// layers are then applied in order, with OCI whiteouts, into a temporary root that is removed when
// the caller is done (or when the process exits or is interrupted).
//
// Layers are never trusted: an entry whose name is absolute or has a ".." component, whose parent
// is a symlink (or not a directory), or a hard link to something not already extracted inside the
// root, refuses the whole image with one line naming the layer's digest and the entry. Files are
// created exclusively with O_NOFOLLOW; device nodes and FIFOs are skipped; modes (setuid included)
// are kept as modes, owners are not. The total bytes and entries are bounded (EXTRACT_LIMITS).

import {
  readSync,
  closeSync,
  constants,
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  linkSync,
  chmodSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable, Writable, pipeline as streamPipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { readTar } from "./tar-read.js";
import { decodeName, fsPath } from "../fs-name.js";
import { ImageError } from "./errors.js";
import { present } from "../present.js";

/** Bounds on what one image may extract: all its layers together, per platform. */
export const EXTRACT_LIMITS = {
  /** Bytes of file content (8 GiB). */
  maxBytes: 8 * 1024 ** 3,
  /** Tar entries (one million). */
  maxEntries: 1_000_000,
};

export interface ExtractLimits {
  maxBytes: number;
  maxEntries: number;
}

/** The platform of one image: OCI's os/architecture/variant. */
export interface SourcePlatform {
  os: string;
  architecture: string;
  variant?: string;
}

/** The run-time part of an image config (Docker's field names), as far as magicpak carries it over. */
export interface SourceRunConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, unknown> | null;
  Volumes?: Record<string, unknown> | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
}

export interface SourceLayer {
  /** The digest the layer is stored by (the blob's, or for a Docker archive the uncompressed tar's file name). */
  digest: string;
  /** Bytes as stored. */
  size: number;
  /** Host file holding the blob. */
  file: string;
}

/** One platform's image of a source. */
export interface SourceImage {
  platform: SourcePlatform;
  config: SourceRunConfig;
  layers: SourceLayer[];
  /** Bytes as stored: the layers and the config. */
  size: number;
}

export interface ImageSource {
  /** What was given (for messages). */
  source: string;
  images: SourceImage[];
  /** Removes the private copy of an archive's contents (a layout directory is read in place). */
  close(): void;
}

/** "linux/arm64" or "linux/arm64/v8" (the variant is optional when matching). */
export function parsePlatform(text: string): SourcePlatform {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_]+$/.test(p))) throw new ImageError(`--platform ${text}`, "expected OS/ARCH or OS/ARCH/VARIANT (as linux/arm64)");
  const [os, architecture, variant] = parts;
  return { os: present(os, "the OS"), architecture: present(architecture, "the architecture"), ...(variant !== undefined ? { variant } : {}) };
}

export function formatPlatform(p: SourcePlatform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

function platformMatches(have: SourcePlatform, want: SourcePlatform): boolean {
  return have.os === want.os && have.architecture === want.architecture && (want.variant === undefined || have.variant === undefined || have.variant === want.variant);
}

const HEX = /^[a-f0-9]{64}$/;
const INDEX_MEDIA = new Set(["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"]);
const MANIFEST_MEDIA = new Set(["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"]);

/**
 * Opens SOURCE: a directory with oci-layout (optionally DIR:TAG, matched against ref.name), or a
 * file that is an OCI archive (has index.json) or a Docker archive (has manifest.json). With
 * `platform`, only that platform's image; otherwise every platform the source has.
 */
export async function openImageSource(source: string, options: { platform?: SourcePlatform } = {}): Promise<ImageSource> {
  let path = source;
  let tag: string | undefined;
  if (!existsSync(path)) {
    const colon = source.lastIndexOf(":");
    if (colon > 0 && existsSync(source.slice(0, colon))) {
      path = source.slice(0, colon);
      tag = source.slice(colon + 1);
    } else {
      throw new ImageError(source, "no such image layout directory or archive");
    }
  }
  const stats = statSync(path);
  let dir = path;
  let scratch: string | null = null;
  if (stats.isFile()) {
    scratch = mkdtempSync(join(tmpdir(), "magicpak-source-"));
    registerTemporary(scratch);
    dir = scratch;
    try {
      await indexArchive(path, dir, source);
    } catch (error) {
      removeTemporary(scratch);
      throw error;
    }
  } else if (!stats.isDirectory()) {
    throw new ImageError(source, "neither a directory nor a file");
  }
  const close = () => {
    if (scratch) removeTemporary(scratch);
  };
  try {
    let images: SourceImage[];
    if (existsSync(join(dir, "index.json"))) images = readOci(dir, source, tag);
    else if (existsSync(join(dir, "manifest.json"))) images = readDocker(dir, source, tag);
    else throw new ImageError(source, "not an image: no index.json (OCI) or manifest.json (Docker archive)");
    if (options.platform) {
      const want = options.platform;
      const chosen = images.filter((i) => platformMatches(i.platform, want));
      if (chosen.length === 0) throw new ImageError(source, `has no ${formatPlatform(want)} image (it has ${images.map((i) => formatPlatform(i.platform)).join(", ")})`);
      images = chosen.slice(0, 1);
    }
    return { source, images, close };
  } catch (error) {
    close();
    throw error;
  }
}

/** Copies the members of an outer archive whose names the formats use into `dir`; nothing else. */
async function indexArchive(file: string, dir: string, source: string): Promise<void> {
  const input = createReadStream(file);
  try {
    for await (const entry of readTar(input)) {
      const name = entry.header.name.replace(/^\.\//, "").replace(/\/$/, "");
      const ok =
        entry.header.type === "file" &&
        (/^(index\.json|oci-layout|manifest\.json|repositories|[a-f0-9]{64}\.json)$/.test(name) ||
          /^blobs\/sha256\/[a-f0-9]{64}$/.test(name) ||
          /^[a-f0-9]{64}\/(layer\.tar|json|VERSION)$/.test(name));
      if (!ok) continue;
      const target = join(dir, name);
      mkdirSync(join(target, ".."), { recursive: true });
      await pipeline(Readable.from(entry.content()), createWriteStreamExclusive(target));
    }
  } catch (error) {
    if (error instanceof ImageError) throw error;
    throw new ImageError(source, `cannot read the archive: ${(error as Error).message}`);
  } finally {
    input.destroy();
  }
}

function createWriteStreamExclusive(path: string): Writable {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    final(callback) {
      closeSync(fd);
      callback();
    },
    destroy(error, callback) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      callback(error);
    },
  });
}

/** An image's JSON (index, manifest, config) is untrusted: it is read as unknown and each field checked where used. */
function readJson(file: string, source: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ImageError(source, `cannot read ${what}: ${(error as Error).message}`);
  }
}

/** `value[key]` as `value?.[key]` reads it, for parsed JSON of any shape. */
function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** `value` when it is a JSON array, else no elements. */
function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function blobFile(dir: string, digest: unknown, source: string): string {
  if (typeof digest !== "string" || !digest.startsWith("sha256:") || !HEX.test(digest.slice(7))) throw new ImageError(source, `unsupported digest ${JSON.stringify(digest)}`);
  const file = join(dir, "blobs/sha256", digest.slice(7));
  if (!existsSync(file)) throw new ImageError(source, `blob ${digest} is missing`);
  return file;
}

function readOci(dir: string, source: string, tag: string | undefined): SourceImage[] {
  const index = readJson(join(dir, "index.json"), source, "index.json");
  let manifests = list(field(index, "manifests"));
  if (tag !== undefined) {
    manifests = manifests.filter((m) => field(field(m, "annotations"), "org.opencontainers.image.ref.name") === tag);
    if (manifests.length === 0) throw new ImageError(source, `no image tagged ${tag} in the layout`);
  }
  const images: SourceImage[] = [];
  // `platform` is the descriptor's own, as untrusted as the rest.
  const visit = (descriptor: unknown, platform: unknown, depth: number) => {
    if (depth > 4) throw new ImageError(source, "indexes nested too deeply");
    const digest = field(descriptor, "digest");
    const mediaType = field(descriptor, "mediaType");
    const file = blobFile(dir, digest, source);
    if (typeof mediaType === "string" && INDEX_MEDIA.has(mediaType)) {
      const nested = readJson(file, source, `index ${String(digest)}`);
      for (const m of list(field(nested, "manifests"))) visit(m, field(m, "platform") ?? platform, depth + 1);
      return;
    }
    if (typeof mediaType !== "string" || !MANIFEST_MEDIA.has(mediaType)) return; // attestations, signatures, ...
    const manifest = readJson(file, source, `manifest ${String(digest)}`);
    const configDigest = field(field(manifest, "config"), "digest");
    const configFile = blobFile(dir, configDigest, source);
    const config = readJson(configFile, source, `config ${String(configDigest)}`);
    if (field(config, "architecture") === "unknown" || field(platform, "architecture") === "unknown") return; // buildkit attestation manifests
    const layers: SourceLayer[] = list(field(manifest, "layers")).map((l) => {
      const layerType = field(l, "mediaType");
      const layerDigest = field(l, "digest");
      if (typeof layerType === "string" && /zstd/.test(layerType)) throw new ImageError(source, `layer ${String(layerDigest)}: zstd layers are not supported`);
      return { digest: String(layerDigest), size: statSync(blobFile(dir, layerDigest, source)).size, file: blobFile(dir, layerDigest, source) };
    });
    images.push(imageOf(config, layers, statSync(configFile).size, platform));
  };
  for (const m of manifests) visit(m, field(m, "platform"), 0);
  if (images.length === 0) throw new ImageError(source, "no image manifest in the index");
  return images;
}

function readDocker(dir: string, source: string, tag: string | undefined): SourceImage[] {
  const manifest = readJson(join(dir, "manifest.json"), source, "manifest.json");
  let entries = list(manifest);
  if (tag !== undefined) {
    entries = entries.filter((e) => list(field(e, "RepoTags")).some((t) => typeof t === "string" && (t === tag || t.endsWith(`/${tag}`) || t.split(":")[0] === tag)));
    if (entries.length === 0) throw new ImageError(source, `no image tagged ${tag} in the archive`);
  }
  const member = (name: unknown): string => {
    if (typeof name !== "string" || !(/^[a-f0-9]{64}\.json$/.test(name) || /^blobs\/sha256\/[a-f0-9]{64}$/.test(name) || /^[a-f0-9]{64}\/layer\.tar$/.test(name)))
      throw new ImageError(source, `unexpected member name ${JSON.stringify(name)} in manifest.json`);
    const file = join(dir, name);
    if (!existsSync(file)) throw new ImageError(source, `${name} is missing`);
    return file;
  };
  const images = entries.map((e) => {
    const configFile = member(field(e, "Config"));
    const config = readJson(configFile, source, String(field(e, "Config")));
    const layers = list(field(e, "Layers")).map((name) => {
      const file = member(name);
      const hex = present(/([a-f0-9]{64})/.exec(String(name))?.[1], `the digest in ${String(name)}`); // member() checked the name's form
      return { digest: `sha256:${hex}`, size: statSync(file).size, file };
    });
    return imageOf(config, layers, statSync(configFile).size, undefined);
  });
  if (images.length === 0) throw new ImageError(source, "manifest.json names no image");
  return images;
}

function imageOf(config: unknown, layers: SourceLayer[], configSize: number, platform: unknown): SourceImage {
  const described = field(platform, "architecture") ? platform : config; // the descriptor's platform, else the config's
  const variant = field(described, "variant");
  const p: SourcePlatform = {
    os: String(field(described, "os") ?? "linux"),
    architecture: String(field(described, "architecture") ?? "amd64"),
    ...(variant ? { variant: String(variant) } : {}),
  };
  return { platform: p, config: (field(config, "config") ?? {}) as SourceRunConfig, layers, size: configSize + layers.reduce((sum, l) => sum + l.size, 0) };
}

// --- temporary directories: removed by the caller, or at exit / SIGINT / SIGTERM ---

const temporaries = new Set<string>();
let handlersInstalled = false;

function onSignal(signal: NodeJS.Signals): void {
  for (const dir of temporaries) rmSync(dir, { recursive: true, force: true });
  temporaries.clear();
  process.exit(signal === "SIGINT" ? 130 : 143);
}

function onExit(): void {
  for (const dir of temporaries) rmSync(dir, { recursive: true, force: true });
}

/** Local to this module (lib/cleanup.ts does not exist on this branch): removes `dir` at exit or on SIGINT/SIGTERM. */
function registerTemporary(dir: string): void {
  temporaries.add(dir);
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on("exit", onExit);
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
}

function removeTemporary(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  temporaries.delete(dir);
  if (temporaries.size === 0 && handlersInstalled) {
    handlersInstalled = false;
    process.off("exit", onExit);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** A root extracted from an image's layers; `remove()` deletes it. */
export interface ExtractedRoot {
  root: string;
  remove(): void;
}

/** Applies the image's layers in order into a fresh temporary directory. */
export async function extractImage(image: SourceImage, limits: ExtractLimits = EXTRACT_LIMITS): Promise<ExtractedRoot> {
  const root = mkdtempSync(join(tmpdir(), "magicpak-image-root-"));
  registerTemporary(root);
  chmodSync(root, 0o755);
  try {
    const budget = { bytes: limits.maxBytes, entries: limits.maxEntries };
    for (const layer of image.layers) await applyLayer(root, layer, budget, limits);
  } catch (error) {
    removeTemporary(root);
    throw error;
  }
  return { root, remove: () => removeTemporary(root) };
}

class LayerRefused extends ImageError {}

/** Applies one layer (gzipped or not, by its first bytes) on top of `root`. */
export async function applyLayer(root: string, layer: SourceLayer, budget: { bytes: number; entries: number }, limits: ExtractLimits = EXTRACT_LIMITS): Promise<void> {
  const refuse = (entry: string, problem: string) => new LayerRefused(`layer ${layer.digest} entry "${entry}"`, problem);
  const head = Buffer.alloc(2);
  const fd = openSync(layer.file, "r");
  try {
    readSyncFully(fd, head);
  } finally {
    closeSync(fd);
  }
  const gzipped = head[0] === 0x1f && head[1] === 0x8b;
  /** Paths this layer created: an opaque whiteout removes only what lower layers had. */
  const mine = new Set<string>();
  const input = createReadStream(layer.file);
  const stream: AsyncIterable<Buffer> = gzipped ? streamPipeline(input, createGunzip(), () => undefined) : input;
  try {
    for await (const entry of readTar(stream)) {
      const h = entry.header;
      const raw = h.name;
      if (--budget.entries < 0) throw refuse(raw, `more than ${limits.maxEntries} entries in the image (EXTRACT_LIMITS.maxEntries)`);
      const rel = safeName(raw, refuse);
      if (rel === null) {
        continue; // "./" itself
      }
      const size = h.size ?? 0;
      if (size > budget.bytes) throw refuse(raw, `${size} bytes would exceed the ${limits.maxBytes}-byte bound on an image's contents (EXTRACT_LIMITS.maxBytes)`);
      budget.bytes -= size;
      const parts = rel.split("/");
      const base = present(parts.at(-1), `the last component of ${rel}`);
      const parent = ensureParent(root, parts.slice(0, -1), raw, refuse);
      const host = join(parent, base);
      if (base === ".wh..wh..opq") {
        for (const name of readdirSync(fsPath(parent), { encoding: "buffer" }).map((b) => decodeName(b))) {
          const child = [...parts.slice(0, -1), name].join("/");
          if (!mine.has(child)) rmSync(fsPath(join(parent, name)), { recursive: true, force: true });
        }
        continue;
      }
      if (base.startsWith(".wh.")) {
        rmSync(fsPath(join(parent, base.slice(4))), { recursive: true, force: true });
        continue;
      }
      mine.add(rel);
      const mode = (h.mode ?? 0o644) & 0o7777;
      switch (h.type) {
        case "directory": {
          const existing = lstatOrNull(host);
          if (existing && !existing.isDirectory()) rmSync(fsPath(host), { recursive: true, force: true });
          if (!existing || !existing.isDirectory()) mkdirSync(fsPath(host), { mode: 0o700 });
          chmodSync(fsPath(host), mode);
          break;
        }
        case "file":
        case "contiguous-file": {
          removeExisting(host);
          const out = openSync(fsPath(host), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          let written = 0;
          try {
            for await (const chunk of entry.content()) {
              written += chunk.length;
              let off = 0;
              while (off < chunk.length) off += writeSync(out, chunk, off);
            }
          } finally {
            closeSync(out);
          }
          if (written !== size) throw refuse(raw, `truncated (${written} of ${size} bytes)`);
          chmodSync(fsPath(host), mode);
          break;
        }
        case "symlink":
          removeExisting(host);
          if (!h.linkname || h.linkname.includes("\0")) throw refuse(raw, "symlink without a target");
          symlinkSync(fsPath(h.linkname), fsPath(host));
          break;
        case "link": {
          const targetRel = safeName(h.linkname ?? "", (_e, problem) => refuse(raw, `hard link target ${JSON.stringify(h.linkname)}: ${problem}`));
          if (targetRel === null) throw refuse(raw, "hard link to the root directory");
          const targetParts = targetRel.split("/");
          const targetParent = existingParent(root, targetParts.slice(0, -1));
          const target = targetParent === null ? null : join(targetParent, present(targetParts.at(-1), `the last component of ${targetRel}`));
          const targetStats = target === null ? null : lstatOrNull(target);
          if (target === null || targetStats === null) throw refuse(raw, `hard link to ${JSON.stringify(h.linkname)}, which is not (yet) in the image`);
          if (targetStats.isDirectory()) throw refuse(raw, `hard link to the directory ${JSON.stringify(h.linkname)}`);
          if (target !== host) {
            removeExisting(host);
            linkSync(fsPath(target), fsPath(host));
          }
          break;
        }
        case "character-device":
        case "block-device":
        case "fifo":
        case "other":
          // Character and block devices, FIFOs, and anything else: the kernel's or the runtime's, not the image's.
          break;
      }
    }
  } catch (error) {
    if (error instanceof ImageError) throw error;
    throw new ImageError(`layer ${layer.digest}`, `cannot read: ${(error as Error).message}`);
  } finally {
    input.destroy();
  }
}

function readSyncFully(fd: number, buffer: Buffer): void {
  // A layer shorter than two bytes reads as not gzipped and then fails as a tar.
  buffer.fill(0);
  readSync(fd, buffer, 0, buffer.length, 0);
}

/** The entry's path relative to the root, or null for the root itself; refuses absolute and ".." names. */
function safeName(raw: string, refuse: (entry: string, problem: string) => Error): string | null {
  if (raw.includes("\0")) throw refuse(raw, "NUL in the name");
  if (raw === "/") return null; // the root directory itself (umoci writes it)
  if (raw.startsWith("/")) throw refuse(raw, "absolute name (would be written outside the root)");
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw refuse(raw, '".." in the name (would be written outside the root)');
  return parts.length === 0 ? null : parts.join("/");
}

/** The host directory for `parts` below the root, made (0755) where missing; a symlink or non-directory on the way refuses the entry. */
function ensureParent(root: string, parts: string[], raw: string, refuse: (entry: string, problem: string) => Error): string {
  let dir = root;
  for (const [i, part] of parts.entries()) {
    const next = join(dir, part);
    const stats = lstatOrNull(next);
    if (stats === null) {
      mkdirSync(fsPath(next), { mode: 0o755 });
      chmodSync(fsPath(next), 0o755);
    } else if (stats.isSymbolicLink()) {
      throw refuse(raw, `its parent /${parts.slice(0, i + 1).join("/")} is a symlink (entries are never written through links)`);
    } else if (!stats.isDirectory()) {
      throw refuse(raw, `its parent /${parts.slice(0, i + 1).join("/")} is not a directory`);
    }
    dir = next;
  }
  return dir;
}

/** Like ensureParent but creating nothing: null when a component is missing, a symlink or not a directory. */
function existingParent(root: string, parts: string[]): string | null {
  let dir = root;
  for (const part of parts) {
    const next = join(dir, part);
    const stats = lstatOrNull(next);
    if (stats === null || !stats.isDirectory()) return null;
    dir = next;
  }
  return dir;
}

function removeExisting(host: string): void {
  const stats = lstatOrNull(host);
  if (stats) rmSync(fsPath(host), { recursive: stats.isDirectory(), force: true });
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(fsPath(path));
  } catch {
    return null;
  }
}

// Input images for the --from-image tests, made on this machine: an OCI layout whose layers are
// tars of directories (written with tar-stream, gzipped with zlib) or of hand-made entries (the
// malicious ones), with a config and a manifest per platform and one index over them all.
//
// (umoci insert of the mmdebstrap tree wrote a layer whose tar ends without the last file's padding
// and the end-of-archive blocks, which Python's tarfile and tar-stream both refuse; so the base
// layers are written here.)

import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tarStream from "tar-stream";

export type RawEntry = { header: Partial<tarStream.Header> & { name: string }; content?: Buffer };

/** Entries of a directory tree, sorted, parents first (devices and FIFOs as the tree has them). */
export function treeEntries(dir: string): RawEntry[] {
  const out: RawEntry[] = [];
  const seen = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const st = lstatSync(join(dir, path));
      const base = { name: path, mode: st.mode & 0o7777, uid: 0, gid: 0, mtime: new Date(0) };
      if (st.isSymbolicLink()) out.push({ header: { ...base, type: "symlink", linkname: readlinkSync(join(dir, path)) } });
      else if (st.isDirectory()) {
        out.push({ header: { ...base, type: "directory" } });
        walk(path);
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? seen.get(key) : undefined;
        if (first) out.push({ header: { ...base, type: "link", linkname: first } });
        else {
          if (st.nlink > 1) seen.set(key, path);
          out.push({ header: { ...base, type: "file", size: st.size }, content: readFileSync(join(dir, path)) });
        }
      } else if (st.isCharacterDevice()) {
        out.push({ header: { ...base, type: "character-device", devmajor: Math.floor(st.rdev / 256), devminor: st.rdev % 256 } });
      }
    }
  };
  walk("");
  return out;
}

/** The tar of `entries` (headers as given, so names may be anything). */
export async function tarOf(entries: RawEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const callback = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.content !== undefined || e.header.type === "file") pack.entry(e.header as tarStream.Header, e.content ?? Buffer.alloc(0), callback);
      else pack.entry(e.header as tarStream.Header, callback);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export interface TestImage {
  platform: { architecture: string; os: "linux"; variant?: string };
  /** Uncompressed layer tars, bottom first. */
  layers: Buffer[];
  config: Record<string, unknown>;
}

/** Writes an OCI layout with one manifest per image, all tagged `tag`, into `dir`. */
export function writeTestLayout(dir: string, images: TestImage[], tag = "latest"): void {
  const blobs = join(dir, "blobs/sha256");
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    const d = sha(b);
    writeFileSync(join(blobs, d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const manifests = images.map((image) => {
    const gz = image.layers.map((l) => ({ ...put(gzipSync(l)), diff: sha(l) }));
    const config = Buffer.from(JSON.stringify({ ...image.platform, config: image.config, rootfs: { type: "layers", diff_ids: gz.map((g) => g.diff) } }));
    const c = put(config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...c },
        layers: gz.map((g) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: g.digest, size: g.size })),
      }),
    );
    return { mediaType: "application/vnd.oci.image.manifest.v1+json", ...put(manifest), platform: image.platform };
  });
  const ref = { "org.opencontainers.image.ref.name": tag };
  // Several platforms: index.json names one image index (as skopeo and buildkit write them).
  const top =
    manifests.length === 1
      ? [{ ...manifests[0], annotations: ref }]
      : [
          {
            mediaType: "application/vnd.oci.image.index.v1+json",
            ...put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }))),
            annotations: ref,
          },
        ];
  writeFileSync(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: top }));
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
}

// The bundle's software bill of materials: SPDX 2.3 JSON (default) or CycloneDX 1.5 JSON. The
// packages the bundle's files come from (name, version, architecture, purl, the license their
// machine-readable copyright file declares) and every regular file with its SHA-256, each file
// contained by its package. Deterministic: the same bundle gives the same bytes (the namespace
// and serial number come from the content, the time from SOURCE_DATE_EPOCH or 0).

import { createHash } from "node:crypto";
import { closeSync, readFileSync } from "node:fs";
import { openPlannedFile } from "../fs/copy-file.js";
import type { RootFs } from "../fs/root.js";
import type { FileGraph, FileNode } from "../graph/file-graph.js";
import { sourceDateEpoch } from "../environment.js";
import { VERSION } from "../version.js";
import { parseStanzas, type InstalledPackage, type OsRelease, type PackageDatabase } from "./dpkg.js";
import { ownerOfNode } from "./records.js";
import { present } from "../present.js";

export const SBOM_FORMATS = ["spdx", "cyclonedx"] as const;
export type SbomFormat = (typeof SBOM_FORMATS)[number];

export const SBOM_MEDIA_TYPES: Record<SbomFormat, string> = {
  spdx: "application/spdx+json",
  cyclonedx: "application/vnd.cyclonedx+json",
};

export interface SbomOptions {
  format?: SbomFormat;
  /** The document's name (default "magicpak bundle"). */
  name?: string;
  /** Seconds since the epoch (default SOURCE_DATE_EPOCH, else 0). */
  created?: number;
}

interface FileEntry {
  path: string;
  sha1: string;
  sha256: string;
  pkg: InstalledPackage | null;
}

interface PackageEntry {
  pkg: InstalledPackage;
  purl: string;
  license: string;
}

/** The SBOM of the bundle planned in `graph`, bundled from `root`. `db` is null for a root without a package database. */
export function buildSbom(graph: FileGraph, root: RootFs, db: PackageDatabase | null, osRelease: OsRelease | null, options: SbomOptions = {}): Buffer {
  const files: FileEntry[] = [];
  for (const node of graph.entries()) {
    if (node.kind !== "file" && node.kind !== "generated") continue;
    // The bytes the image holds: magicpak's own (a UPX-packed input) or the planned inode's.
    const content = node.kind === "generated" ? node.content : (node.content ?? readPlannedFile(node));
    const pkg = db && node.kind === "file" ? ownerOfNode(db, node) : null;
    files.push({ path: node.path, sha1: createHash("sha1").update(content).digest("hex"), sha256: createHash("sha256").update(content).digest("hex"), pkg });
  }
  const distro = osRelease?.fields["ID"] ?? "debian";
  const seen = new Set<InstalledPackage>();
  const packages: PackageEntry[] = [];
  for (const file of files) {
    if (!file.pkg || seen.has(file.pkg)) continue;
    seen.add(file.pkg);
    packages.push({ pkg: file.pkg, purl: debPurl(distro, file.pkg), license: packageLicense(root, file.pkg) });
  }
  packages.sort((a, b) => (a.purl < b.purl ? -1 : a.purl > b.purl ? 1 : 0));
  const created = isoTime(options.created ?? sourceDateEpoch());
  const name = options.name ?? "magicpak bundle";
  return (options.format ?? "spdx") === "spdx" ? spdx(name, created, packages, files) : cyclonedx(name, created, packages, files);
}

function spdx(name: string, created: string, packages: PackageEntry[], files: FileEntry[]): Buffer {
  const ids = new Map<InstalledPackage, string>();
  const used = new Set<string>();
  const unique = (id: string) => {
    let candidate = id;
    for (let i = 2; used.has(candidate); i++) candidate = `${id}-${i}`;
    used.add(candidate);
    return candidate;
  };
  for (const p of packages) ids.set(p.pkg, unique(`SPDXRef-Package-deb-${spdxIdPart(p.pkg.name)}-${spdxIdPart(p.pkg.architecture)}`));
  const document: Record<string, unknown> = {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name,
    documentNamespace: "",
    creationInfo: { created, creators: [`Tool: magicpak-${VERSION}`] },
    packages: packages.map((p) => {
      const maintainer = fieldOf(p.pkg, "maintainer");
      return {
        SPDXID: ids.get(p.pkg),
        name: p.pkg.name,
        versionInfo: p.pkg.version,
        ...(maintainer ? { supplier: `Organization: ${maintainer.replace(/\s*<([^>]*)>\s*$/, " ($1)")}` } : {}),
        downloadLocation: "NOASSERTION",
        filesAnalyzed: false,
        licenseConcluded: "NOASSERTION",
        licenseDeclared: p.license,
        copyrightText: "NOASSERTION",
        ...(p.pkg.source && p.pkg.source !== p.pkg.name ? { sourceInfo: `built package from: ${p.pkg.source}` } : {}),
        externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: p.purl }],
        attributionTexts: [`architecture: ${p.pkg.architecture}`],
      };
    }),
    files: files.map((f, i) => ({
      SPDXID: `SPDXRef-File-${i + 1}`,
      fileName: `.${f.path}`,
      checksums: [
        { algorithm: "SHA1", checksumValue: f.sha1 },
        { algorithm: "SHA256", checksumValue: f.sha256 },
      ],
      licenseConcluded: "NOASSERTION",
      copyrightText: "NOASSERTION",
    })),
    relationships: [
      ...packages.map((p) => ({ spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: ids.get(p.pkg) })),
      // Files no package owns (generated, the user's own) are described by the document directly.
      ...files.flatMap((f, i) => (f.pkg ? [] : [{ spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: `SPDXRef-File-${i + 1}` }])),
      ...files.flatMap((f, i) => (f.pkg ? [{ spdxElementId: ids.get(f.pkg), relationshipType: "CONTAINS", relatedSpdxElement: `SPDXRef-File-${i + 1}` }] : [])),
    ],
  };
  const hash = createHash("sha256").update(JSON.stringify(document)).digest("hex");
  document["documentNamespace"] = `https://magicpak.invalid/spdxdocs/${encodeURIComponent(name.replace(/\s+/g, "-"))}-${hash}`;
  return Buffer.from(`${JSON.stringify(document, null, 2)}\n`);
}

function cyclonedx(name: string, created: string, packages: PackageEntry[], files: FileEntry[]): Buffer {
  const fileComponent = (f: FileEntry) => ({
    type: "file",
    "bom-ref": `file:${f.path}`,
    name: f.path,
    hashes: [
      { alg: "SHA-1", content: f.sha1 },
      { alg: "SHA-256", content: f.sha256 },
    ],
  });
  const bom: Record<string, unknown> = {
    bomFormat: "CycloneDX",
    specVersion: "1.5",
    serialNumber: "",
    version: 1,
    metadata: {
      timestamp: created,
      tools: { components: [{ type: "application", name: "magicpak", version: VERSION }] },
      component: { type: "application", "bom-ref": "bundle", name },
    },
    components: [
      ...packages.map((p) => ({
        type: "library",
        "bom-ref": p.purl,
        name: p.pkg.name,
        version: p.pkg.version,
        purl: p.purl,
        ...(p.license !== "NOASSERTION" ? { licenses: [{ expression: p.license }] } : {}),
        properties: [{ name: "magicpak:architecture", value: p.pkg.architecture }],
        components: files.filter((f) => f.pkg === p.pkg).map(fileComponent),
      })),
      ...files.filter((f) => !f.pkg).map(fileComponent),
    ],
    dependencies: [{ ref: "bundle", dependsOn: packages.map((p) => p.purl) }],
  };
  const hash = createHash("sha256").update(JSON.stringify(bom)).digest("hex");
  // A version 4 (random-form) UUID whose bits come from the content hash.
  bom["serialNumber"] = `urn:uuid:${hash.slice(0, 8)}-${hash.slice(8, 12)}-4${hash.slice(13, 16)}-${((parseInt(hash.charAt(16), 16) & 3) | 8).toString(16)}${hash.slice(17, 20)}-${hash.slice(20, 32)}`;
  return Buffer.from(`${JSON.stringify(bom, null, 2)}\n`);
}

/** pkg:deb/DISTRO/NAME@VERSION?arch=ARCH (purl-spec's deb type; the version percent-encoded). */
export function debPurl(distro: string, pkg: InstalledPackage): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `pkg:deb/${enc(distro.toLowerCase())}/${enc(pkg.name)}@${enc(pkg.version)}?arch=${enc(pkg.architecture)}`;
}

function fieldOf(pkg: InstalledPackage, field: string): string | null {
  return parseStanzas(pkg.record)[0]?.fields.get(field) ?? null;
}

/**
 * The license /usr/share/doc/PKG/copyright declares when it is machine-readable (DEP-5): the
 * License fields of its Files paragraphs, ANDed, as an SPDX expression; NOASSERTION when the file
 * is absent, not DEP-5, or names a license without an SPDX identifier.
 */
export function packageLicense(root: RootFs, pkg: InstalledPackage): string {
  const text = root.readFileBounded(`/usr/share/doc/${pkg.name}/copyright`, 4 << 20)?.toString("utf8");
  if (!text) return "NOASSERTION";
  const paragraphs = parseStanzas(text);
  const header = paragraphs[0]?.fields.get("format") ?? "";
  if (!/copyright-format\/1\.0/.test(header)) return "NOASSERTION";
  const expressions = new Set<string>();
  for (const paragraph of paragraphs.slice(1)) {
    if (!paragraph.fields.has("files")) continue;
    const [firstLine = ""] = (paragraph.fields.get("license") ?? "").split("\n"); // split always yields one
    const license = firstLine.trim();
    const expression = licenseExpression(license);
    if (expression === null) return "NOASSERTION";
    expressions.add(expression);
  }
  if (expressions.size === 0) return "NOASSERTION";
  const list = [...expressions].sort();
  return list.length === 1 ? present(list[0], "the one expression") : list.map((e) => (/ (AND|OR|WITH) /.test(e) ? `(${e})` : e)).join(" AND ");
}

/** DEP-5 short names (copyright-format 1.0's table and common Debian usage) to SPDX identifiers. */
const DEP5_TO_SPDX: Record<string, string> = {
  "apache-2.0": "Apache-2.0",
  "artistic-1.0": "Artistic-1.0",
  artistic: "Artistic-1.0",
  "artistic-2.0": "Artistic-2.0",
  "bsd-2-clause": "BSD-2-Clause",
  "bsd-3-clause": "BSD-3-Clause",
  "bsd-4-clause": "BSD-4-Clause",
  isc: "ISC",
  "cc0-1.0": "CC0-1.0",
  cc0: "CC0-1.0",
  expat: "MIT",
  mit: "MIT",
  "mpl-1.1": "MPL-1.1",
  "mpl-2.0": "MPL-2.0",
  zlib: "Zlib",
  "psf-2": "PSF-2.0",
  python: "Python-2.0",
  "python-2.0": "Python-2.0",
  "ofl-1.1": "OFL-1.1",
  openssl: "OpenSSL",
  "unicode-dfs-2016": "Unicode-DFS-2016",
  x11: "X11",
  curl: "curl",
  "gfdl-1.2+": "GFDL-1.2-or-later",
  "gfdl-1.3+": "GFDL-1.3-or-later",
  "gfdl-1.3": "GFDL-1.3-only",
};

function gnu(id: string): string | null {
  const m = /^(a?gpl|lgpl)-?(\d(?:\.\d)?)(\+)?$/i.exec(id);
  if (!m) return null;
  const family = present(m[1], "the GNU licence family").toUpperCase();
  let version = present(m[2], "the GNU licence version");
  if (!version.includes(".")) version = `${version}.0`;
  if (family === "LGPL" && version === "2.0") version = "2.0";
  return `${family}-${version}-${m[3] ? "or-later" : "only"}`;
}

/** A DEP-5 License line ("GPL-2+ or Artistic", "LGPL-2.1+ with OpenSSL exception") as SPDX, or null. */
export function licenseExpression(license: string): string | null {
  if (license === "") return null;
  const parts = license.split(/\s+(and|or)\s+|\s*,\s+(and|or)\s+/i);
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (part === undefined) continue;
    if (/^(and|or)$/i.test(part)) {
      out.push(part.toUpperCase());
      continue;
    }
    const id = part.trim().replace(/,$/, "");
    const spdxId = DEP5_TO_SPDX[id.toLowerCase()] ?? gnu(id) ?? spdxNative(id);
    if (spdxId === null) return null;
    out.push(spdxId);
  }
  return out.join(" ");
}

/** Identifiers that already are SPDX license identifiers as written (MIT-0, BSL-1.0, ...). */
function spdxNative(id: string): string | null {
  const known = [
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "MIT-0",
    "BSL-1.0",
    "Unlicense",
    "WTFPL",
    "0BSD",
    "BSD-1-Clause",
    "Beerware",
    "bzip2-1.0.6",
    "Libpng",
    "libpng-2.0",
    "NTP",
    "HPND",
    "FSFAP",
    "FSFUL",
    "FSFULLR",
    "GPL-3.0-or-later",
    "GPL-2.0-or-later",
    "LGPL-2.1-or-later",
    "Apache-2.0",
    "MIT",
    "ISC",
    "Zlib",
  ];
  return known.find((k) => k.toLowerCase() === id.toLowerCase()) ?? null;
}

function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, "Z");
}

function spdxIdPart(s: string): string {
  return s.replace(/[^A-Za-z0-9.-]/g, "-");
}

/** A planned file's bytes, from the inode the plan recorded (opened beneath its root, as the copy does). */
function readPlannedFile(node: FileNode): Buffer {
  const fd = openPlannedFile(node);
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

// Which installed package each file of a root comes from, read from the root's package database
// as data (no package manager is run). dpkg: /var/lib/dpkg/status (installed packages only),
// info/PKG.list and info/PKG:ARCH.list (Multi-Arch: same), info/*.md5sums and diversions. Paths are
// matched after canonicalising their directory through the root's own symlinks, so merged /usr's
// two spellings (/lib/x86_64-linux-gnu/libc.so.6 in the list, /usr/lib/... in the bundle) meet.
// Every read is bounded and goes through RootFs: a hostile root cannot make it read outside the
// root or without limit.

import { posix } from "node:path";
import type { RootFs } from "../fs/root.js";
import { present } from "../present.js";

/** An installed package. */
export interface InstalledPackage {
  manager: "dpkg";
  name: string;
  version: string;
  /** As the record has it: amd64, arm64, all, ... */
  architecture: string;
  /** The name of its files in the database: NAME, or NAME:ARCH for Multi-Arch: same. */
  key: string;
  /** The Source field's package name (without a version), or null. */
  source: string | null;
  /** The package's stanza of the status file, as the root has it (no trailing blank line). */
  record: string;
  /** Its md5sums file as the root has it, or null. */
  md5sums: Buffer | null;
}

/** A root's database of installed packages (dpkg now; Alpine's /lib/apk/db/installed or RPM could be added). */
export interface PackageDatabase {
  readonly kind: "dpkg";
  packages(): InstalledPackage[];
  /** The packages that list the file at this canonical path of the root (usually one; none for files no package owns). */
  ownersOf(canonicalPath: string): InstalledPackage[];
}

const STATUS_LIMIT = 64 << 20;
const LIST_LIMIT = 16 << 20;
const MAX_PACKAGES = 100_000;
const MAX_FIELD_NAME = 128;

/** The root's package database, or null when it has none. */
export function openPackageDatabase(root: RootFs): PackageDatabase | null {
  const status = root.readFileBounded("/var/lib/dpkg/status", STATUS_LIMIT);
  if (status === null) return null;
  return new DpkgDatabase(root, status.toString("utf8"));
}

/** One stanza of a deb822 file: fields by lower-cased name (continuation lines joined with "\n"). */
export interface Stanza {
  text: string;
  fields: Map<string, string>;
}

/** Parses deb822 paragraphs (dpkg status, DEP-5 copyright files). Comment lines (#) are dropped. */
export function parseStanzas(text: string): Stanza[] {
  const stanzas: Stanza[] = [];
  for (const block of text.replace(/\r\n/g, "\n").split(/\n[ \t]*\n/)) {
    const lines = block.split("\n").filter((l) => !l.startsWith("#"));
    const fields = new Map<string, string>();
    let current: string | null = null;
    for (const line of lines) {
      if (line.trim() === "" && current === null) continue;
      if ((line.startsWith(" ") || line.startsWith("\t")) && current !== null) {
        fields.set(current, `${fields.get(current)}\n${line.slice(1)}`);
        continue;
      }
      const colon = line.indexOf(":");
      if (colon <= 0 || colon > MAX_FIELD_NAME) {
        current = null;
        continue;
      }
      current = line.slice(0, colon).toLowerCase();
      fields.set(current, line.slice(colon + 1).trim());
    }
    if (fields.size > 0) stanzas.push({ text: lines.join("\n").trim(), fields });
  }
  return stanzas;
}

class DpkgDatabase implements PackageDatabase {
  readonly kind = "dpkg";
  private readonly installed: InstalledPackage[] = [];
  private owners: Map<string, InstalledPackage[]> | null = null;

  constructor(
    private readonly root: RootFs,
    status: string,
  ) {
    const info = root.listDirectory("/var/lib/dpkg/info") ?? new Set<string>();
    for (const stanza of parseStanzas(status)) {
      if (this.installed.length >= MAX_PACKAGES) break;
      const name = stanza.fields.get("package");
      const version = stanza.fields.get("version");
      const architecture = stanza.fields.get("architecture") ?? "";
      const state = (stanza.fields.get("status") ?? "").split(/\s+/);
      if (!name || !version || !/^[a-z0-9][a-z0-9+.-]*$/.test(name)) continue;
      if (!(state[0] === "install" || state[0] === "hold") || state[1] !== "ok" || state[2] !== "installed") continue;
      // dpkg names the files of a Multi-Arch: same package NAME:ARCH (info/format 1), others NAME.
      const qualified = `${name}:${architecture}`;
      const key = info.has(`${qualified}.list`) ? qualified : name;
      const source = stanza.fields.get("source")?.split(/\s+/)[0] ?? null;
      const md5sums = info.has(`${key}.md5sums`) ? root.readFileBounded(`/var/lib/dpkg/info/${key}.md5sums`, LIST_LIMIT) : null;
      this.installed.push({ manager: "dpkg", name, version, architecture, key, source, record: stanza.text, md5sums });
    }
  }

  packages(): InstalledPackage[] {
    return [...this.installed];
  }

  ownersOf(canonicalPath: string): InstalledPackage[] {
    return this.ownerMap().get(canonicalPath) ?? [];
  }

  /** Every listed path, canonicalised, to the packages listing it; built on first use. */
  private ownerMap(): Map<string, InstalledPackage[]> {
    if (this.owners) return this.owners;
    const owners = new Map<string, InstalledPackage[]>();
    const diversions = this.diversions();
    for (const pkg of this.installed) {
      const list = this.root.readFileBounded(`/var/lib/dpkg/info/${pkg.key}.list`, LIST_LIMIT);
      if (!list) continue;
      for (const line of list.toString("utf8").split("\n")) {
        if (!line.startsWith("/") || line === "/." || line.includes("\0")) continue;
        // A diverted path: the package's own file was moved aside to the diversion's target.
        const diversion = diversions.get(line);
        const path = diversion && diversion.by !== pkg.name ? diversion.to : line;
        const canonical = this.canonical(path);
        const entry = owners.get(canonical);
        if (!entry) owners.set(canonical, [pkg]);
        else if (!entry.includes(pkg)) entry.push(pkg);
      }
    }
    this.owners = owners;
    return owners;
  }

  /** /var/lib/dpkg/diversions: triples of lines (from, to, diverting package or ":" for a local one). */
  private diversions(): Map<string, { to: string; by: string }> {
    const result = new Map<string, { to: string; by: string }>();
    const text = this.root.readFileBounded("/var/lib/dpkg/diversions", LIST_LIMIT)?.toString("utf8");
    if (!text) return result;
    const lines = text.split("\n");
    for (let i = 0; i + 2 < lines.length; i += 3) {
      const [from, to, by] = [present(lines[i], `line ${i}`), present(lines[i + 1], `line ${i + 1}`), present(lines[i + 2], `line ${i + 2}`)];
      if (from.startsWith("/") && to.startsWith("/")) result.set(from, { to, by });
    }
    return result;
  }

  /** The path with its directory resolved through the root's symlinks (the last component is kept). */
  private canonical(path: string): string {
    const normal = posix.normalize(path);
    const dir = posix.dirname(normal);
    try {
      const resolved = this.root.resolveDirectory(dir);
      return resolved === "/" ? `/${posix.basename(normal)}` : `${resolved}/${posix.basename(normal)}`;
    } catch {
      return normal;
    }
  }
}

/** The root's /etc/os-release (or /usr/lib/os-release) as fields, and the file it resolved to. */
export interface OsRelease {
  /** Canonical path inside the root. */
  path: string;
  fields: Record<string, string>;
}

export function readOsRelease(root: RootFs): OsRelease | null {
  for (const candidate of ["/etc/os-release", "/usr/lib/os-release"]) {
    const resolved = root.tryResolve(candidate);
    if (!resolved?.stats.isFile()) continue;
    const content = root.readFileBounded(resolved.path, 64 << 10);
    if (!content) continue;
    const fields: Record<string, string> = {};
    for (const line of content.toString("utf8").split("\n")) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (!m) continue;
      const [, key, raw] = m;
      let value = present(raw, "os-release value");
      if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1).replace(/\\(["'$`\\])/g, "$1");
      fields[present(key, "os-release key")] = value;
    }
    return { path: resolved.path, fields };
  }
  return null;
}

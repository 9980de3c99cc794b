// The packages a bundle's files come from, and the records that let package scanners see them:
// distroless's layout, /var/lib/dpkg/status.d/<package> with the package's status stanza and
// <package>.md5sums beside it, plus the root's /etc/os-release (and /etc/debian_version, which
// scanners identify Debian by) as plain files. Each is a graph node with the reason it is there.

import { fileNode } from "../bundle/collect.js";
import type { Logger } from "../bundle/log.js";
import type { RootFs } from "../fs/root.js";
import { GraphConflictError, type FileGraph, type GraphNode } from "../graph/file-graph.js";
import type { InstalledPackage, PackageDatabase } from "./dpkg.js";
import { present } from "../present.js";

export const STATUS_D = "/var/lib/dpkg/status.d";

/** The package a graph entry comes from: files by their source in the root, symlinks by their own path. */
export function ownerOfNode(db: PackageDatabase, node: GraphNode): InstalledPackage | null {
  if (node.kind === "file") return db.ownersOf(node.source)[0] ?? null;
  if (node.kind === "symlink") return db.ownersOf(node.path)[0] ?? null;
  return null;
}

/** Every package a regular file of the bundle comes from, sorted by name then architecture, with the first such file. */
export function bundledPackages(graph: FileGraph, db: PackageDatabase): { pkg: InstalledPackage; file: string }[] {
  const found = new Map<InstalledPackage, string>();
  for (const node of graph.entries()) {
    if (node.kind !== "file") continue;
    const pkg = ownerOfNode(db, node);
    if (pkg && !found.has(pkg)) found.set(pkg, node.path);
  }
  return [...found].map(([pkg, file]) => ({ pkg, file })).sort((a, b) => (a.pkg.name === b.pkg.name ? (a.pkg.architecture < b.pkg.architecture ? -1 : 1) : a.pkg.name < b.pkg.name ? -1 : 1));
}

/** Adds /etc/os-release (+ /etc/debian_version) and one status.d record (+ md5sums) per package of the bundle's files. */
export function addPackageRecords(graph: FileGraph, root: RootFs, db: PackageDatabase, log: Logger): void {
  for (const [path, why] of [
    ["/etc/os-release", "the root's os-release, for package scanners"],
    ["/etc/debian_version", "the root's Debian version, for package scanners"],
  ] as const) {
    const file = root.tryResolve(path);
    if (!file?.stats.isFile() || graph.has(path)) continue;
    try {
      graph.add(fileNode(path, file, { kind: "extra", what: why }));
    } catch (error) {
      if (!(error instanceof GraphConflictError)) throw error;
      log("Warn", `${path} not added for package scanners: ${error.message}`);
    }
  }
  const packages = bundledPackages(graph, db);
  const names = new Map<string, number>();
  for (const { pkg } of packages) names.set(pkg.name, (names.get(pkg.name) ?? 0) + 1);
  for (const { pkg, file } of packages) {
    // distroless names each record by the package; two architectures of one name need their own.
    const base = present(names.get(pkg.name), `the count of ${pkg.name}`) > 1 ? `${pkg.name}:${pkg.architecture}` : pkg.name;
    const reason = { kind: "package-record" as const, package: `${pkg.name} ${pkg.version}`, file };
    log("Debug", `package record of ${file}'s package: ${pkg.name} ${pkg.version} (${pkg.architecture})`);
    graph.add({ kind: "generated", path: `${STATUS_D}/${base}`, mode: 0o644, content: Buffer.from(`${pkg.record}\n`), reasons: [reason] });
    if (pkg.md5sums) graph.add({ kind: "generated", path: `${STATUS_D}/${base}.md5sums`, mode: 0o644, content: pkg.md5sums, reasons: [reason] });
  }
}

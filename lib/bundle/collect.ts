// Puts files of the root into the graph at the paths the image will use: every symlink met on
// the way becomes a symlink entry (relative), the file itself a copy at its canonical path.

import { lstatSync, readdirSync } from "node:fs";
import { posix } from "node:path";
import { PathError } from "../errors.js";
import { RootPathError, type ResolvedPath, type RootFs } from "../fs/root.js";
import { FileGraph, parentOf, type Reason } from "../graph/file-graph.js";

/** A path that cannot be bundled, named as the user gave it. */
export class BundleError extends PathError {
  override readonly name = "BundleError";
}

/**
 * The link text to store for a symlink at `at` (whose parent is canonical): relative targets are
 * kept; absolute ones are made relative to that parent, which resolves the same inside the image
 * and when the bundle is inspected on the host.
 */
export function imageLinkTarget(at: string, target: string): string {
  if (!target.startsWith("/")) return target;
  const relative = posix.relative(parentOf(at), posix.normalize(target));
  return relative === "" ? "." : relative;
}

export interface AddOptions {
  /** Recurse into a directory (for --include); otherwise a directory is an error. */
  recursive?: boolean;
}

/** Adds `path` of the root (as the target names it) with its symlink chain. Returns the resolved file. */
export function addFromRoot(graph: FileGraph, root: RootFs, path: string, reason: Reason, options: AddOptions = {}): ResolvedPath {
  let traversal;
  try {
    traversal = root.traverse(path);
  } catch (error) {
    if (error instanceof RootPathError) throw new BundleError(path, error.message.slice(error.path.length + 2));
    throw error;
  }
  for (const hop of traversal.links) {
    graph.add({ kind: "symlink", path: hop.at, target: imageLinkTarget(hop.at, hop.target), mode: 0o777, reasons: [{ kind: "symlink", towards: path }] });
  }
  addResolved(graph, root, traversal.resolved, reason, options);
  return traversal.resolved;
}

/**
 * Adds the symlink `path` itself, not what it points to (a dangling or looping link matched by an
 * include pattern is kept as the root has it). Its parent directory's chain is added too.
 */
export function addSymlinkAsIs(graph: FileGraph, root: RootFs, path: string, reason: Reason): string {
  const slash = path.lastIndexOf("/");
  const parent = addDirectoryChain(graph, root, path.slice(0, slash) || "/");
  const at = parent === "/" ? `/${path.slice(slash + 1)}` : `${parent}/${path.slice(slash + 1)}`;
  const target = root.readlink(at);
  if (target === null) throw new BundleError(path, "is not a symlink");
  graph.add({ kind: "symlink", path: at, target: imageLinkTarget(at, target), mode: 0o777, reasons: [reason] });
  return at;
}

/**
 * The symlinks on the way to directory `dir` of the root, added to the graph; returns the
 * directory's canonical path. A directory that does not exist in the root is returned as is.
 */
export function addDirectoryChain(graph: FileGraph, root: RootFs, dir: string): string {
  let traversal;
  try {
    traversal = root.traverse(dir);
  } catch (error) {
    if (error instanceof RootPathError) return dir;
    throw error;
  }
  if (!traversal.resolved.stats.isDirectory()) return dir;
  for (const hop of traversal.links) {
    graph.add({ kind: "symlink", path: hop.at, target: imageLinkTarget(hop.at, hop.target), mode: 0o777, reasons: [{ kind: "symlink", towards: dir }] });
  }
  return traversal.resolved.path;
}

function addResolved(graph: FileGraph, root: RootFs, file: ResolvedPath, reason: Reason, options: AddOptions): void {
  const stats = file.stats;
  if (stats.isFile()) {
    graph.add({
      kind: "file",
      path: file.path,
      source: file.path,
      hostSource: file.hostPath,
      size: stats.size,
      identity: `${stats.dev}:${stats.ino}`,
      mode: stats.mode & 0o7777,
      mtimeMs: stats.mtimeMs,
      reasons: [reason],
    });
    return;
  }
  if (stats.isDirectory()) {
    if (!options.recursive) throw new BundleError(file.path, "is a directory");
    addDirectory(graph, root, file, reason);
    return;
  }
  throw new BundleError(file.path, "is not a regular file, symlink or directory (a device, FIFO or socket cannot be bundled)");
}

/** A directory and everything below it; symlinks inside are kept as links and their targets added. */
function addDirectory(graph: FileGraph, root: RootFs, dir: ResolvedPath, reason: Reason): void {
  graph.add({ kind: "directory", path: dir.path, mode: dir.stats.mode & 0o7777, reasons: [reason] });
  let names: string[];
  try {
    names = readdirSync(dir.hostPath || "/").sort();
  } catch (error) {
    throw new BundleError(dir.path, `cannot read directory: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  for (const name of names) {
    const path = dir.path === "/" ? `/${name}` : `${dir.path}/${name}`;
    const hostPath = root.hostPath(path);
    const stats = lstatSync(hostPath);
    if (stats.isSymbolicLink()) {
      const target = root.readlink(path)!;
      graph.add({ kind: "symlink", path, target: imageLinkTarget(path, target), mode: 0o777, reasons: [reason] });
      // Bring the target along when it resolves inside the root; a dangling link stays as it is.
      const resolved = root.tryResolve(path);
      if (resolved?.stats.isFile()) addFromRoot(graph, root, path, reason);
    } else if (stats.isDirectory()) {
      addDirectory(graph, root, { path, hostPath, stats }, reason);
    } else if (stats.isFile()) {
      addResolved(graph, root, { path, hostPath, stats }, reason, {});
    }
    // Devices, FIFOs and sockets inside an included directory are skipped: an image cannot carry them.
  }
}

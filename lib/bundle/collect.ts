// Puts files of the root into the graph at the paths the image will use: every symlink met on
// the way becomes a symlink entry (relative), the file itself a copy at its canonical path.

import { lstatSync, readdirSync } from "node:fs";
import { posix } from "node:path";
import { RootPathError, fileIdentity, isPseudoFile, type ResolvedPath, type RootFs, type SymlinkHop } from "../fs/root.js";
import { FileGraph, type FileNode, type Reason } from "../graph/file-graph.js";
import { childPath, parentOf } from "../graph/paths.js";
import type { LoadedObject } from "../loader/model.js";
import { BundleError } from "./errors.js";
import { decodeName, fsPath } from "../fs-name.js";
import { present } from "../present.js";

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

interface AddOptions {
  /** Recurse into a directory (for --include); otherwise a directory is an error. */
  recursive?: boolean;
}

/** A copy of the root's regular file `file` at image path `at`. */
export function fileNode(at: string, file: ResolvedPath, reason: Reason): FileNode {
  // procfs/sysfs files have no honest size (0, or 4096 for an attribute that never ends): refused,
  // since what they say is the running kernel's, never a file to ship.
  if (isPseudoFile(file.hostPath)) throw new BundleError(file.path, "is a kernel pseudo-file (procfs/sysfs): not bundled");
  return {
    kind: "file",
    path: at,
    source: file.path,
    hostSource: file.hostPath,
    size: file.stats.size,
    identity: fileIdentity(file.stats),
    mode: file.stats.mode & 0o7777,
    mtimeMs: file.stats.mtimeMs,
    reasons: [reason],
  };
}

/**
 * The path the loader opened an object of a load graph by: the path it was found at, or its real
 * path when that was relative (a relative LD_LIBRARY_PATH entry, resolved against the cwd).
 */
export function openedPath(object: LoadedObject): string {
  return object.path.startsWith("/") ? object.path : object.realPath;
}

/** Adds `path` of the root (as the target names it) with its symlink chain. Returns the resolved file. */
export function addFromRoot(graph: FileGraph, root: RootFs, path: string, reason: Reason, options: AddOptions = {}): ResolvedPath {
  let traversal;
  try {
    traversal = root.traverse(path);
  } catch (error) {
    if (error instanceof RootPathError) throw new BundleError(path, error.problem);
    throw error;
  }
  addSymlinkHops(graph, traversal.links, path);
  addResolved(graph, root, traversal.resolved, reason, options);
  return traversal.resolved;
}

/**
 * Adds the symlink `path` itself, not what it points to (a dangling or looping link matched by an
 * include pattern is kept as the root has it). Its parent directory's chain is added too.
 */
export function addSymlinkAsIs(graph: FileGraph, root: RootFs, path: string, reason: Reason): string {
  const parent = addDirectoryChain(graph, root, parentOf(path));
  const at = childPath(parent, path.slice(path.lastIndexOf("/") + 1));
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
  addSymlinkHops(graph, traversal.links, dir);
  return traversal.resolved.path;
}

/** The symlinks met on the way to `towards`, each where the root has it. */
function addSymlinkHops(graph: FileGraph, hops: SymlinkHop[], towards: string): void {
  for (const hop of hops) {
    graph.add({ kind: "symlink", path: hop.at, target: imageLinkTarget(hop.at, hop.target), mode: 0o777, reasons: [{ kind: "symlink", towards }] });
  }
}

function addResolved(graph: FileGraph, root: RootFs, file: ResolvedPath, reason: Reason, options: AddOptions): void {
  if (file.stats.isFile()) {
    graph.add(fileNode(file.path, file, reason));
    return;
  }
  if (file.stats.isDirectory()) {
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
    names = readdirSync(fsPath(dir.hostPath || "/"), { encoding: "buffer" })
      .map((name) => decodeName(name))
      .sort();
  } catch (error) {
    throw new BundleError(dir.path, `cannot read directory: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  for (const name of names) {
    const path = childPath(dir.path, name);
    const hostPath = root.hostPath(path);
    const stats = lstatSync(fsPath(hostPath));
    if (stats.isSymbolicLink()) {
      const target = present(root.readlink(path), `the target of symlink ${path}`); // lstat just saw a link
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

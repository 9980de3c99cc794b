// The one step that writes: a complete, checked plan becomes a directory tree. Into a temporary
// sibling first, renamed into place at the end, so a failure or a kill leaves no partial OUTPUT.
// A lock file beside OUTPUT (see lib/fs/staging.ts) keeps two runs from writing one OUTPUT and
// lets the next run remove what a killed one left behind.

import { chmodSync, linkSync, lutimesSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { FileGraph } from "../graph/file-graph.js";
import { directoryDestinationProblem } from "../destination.js";
import { copyPlannedFile } from "../fs/copy-file.js";
import { pathExists } from "../fs/which.js";
import { acquireDestination } from "../fs/staging.js";
import { onInterrupt } from "../cleanup.js";
import { sourceDateEpoch } from "../image/config.js";
import { PathError, pathErrorOf } from "../errors.js";
import { BundleError } from "./errors.js";

/**
 * Writes every entry of the graph below `dir`, which must exist and be empty. Never writes outside
 * it. Files are copied from the inode the plan recorded (never another one); modes and mtimes do not
 * depend on the umask or the clock: directories get their planned mode (implied ones 0755), and
 * what magicpak makes (directories, symlinks, generated files) gets SOURCE_DATE_EPOCH, else 0.
 */
export function writeTree(graph: FileGraph, dir: string): void {
  const written = new Map<string, string>(); // identity -> first host path written
  const directoryModes = new Map<string, number>();
  const epoch = sourceDateEpoch();
  for (const node of graph.entries()) {
    const target = join(dir, node.path);
    if (node.path !== "/") mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    switch (node.kind) {
      case "directory":
        mkdirSync(target, { recursive: true, mode: 0o755 });
        directoryModes.set(target, node.mode);
        break;
      case "symlink":
        symlinkSync(node.target, target);
        break;
      case "generated":
        writeFileSync(target, node.content, { flag: "wx", mode: node.mode });
        chmodSync(target, node.mode);
        utimesSync(target, epoch, epoch);
        break;
      case "file": {
        const first = written.get(node.identity);
        if (first) {
          linkSync(first, target);
          break;
        }
        const packed = node.identity.startsWith("upx:"); // magicpak's own packed copy
        copyPlannedFile(node.hostSource, target, { identity: packed ? null : node.identity, size: node.size, mode: 0o600, shown: node.source });
        chmodSync(target, node.mode);
        utimesSync(target, node.mtimeMs / 1000, node.mtimeMs / 1000);
        written.set(node.identity, target);
        break;
      }
    }
  }
  // Every directory (planned or implied) and symlink: a fixed mtime and mode, deepest first, so a
  // read-only directory does not block its own children and no later write changes an mtime.
  const finish = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) finish(child);
      else if (entry.isSymbolicLink()) lutimesSync(child, epoch, epoch);
    }
    chmodSync(path, directoryModes.get(path) ?? 0o755);
    utimesSync(path, epoch, epoch);
  };
  finish(dir);
}

/**
 * Writes the bundle to `output`: it must be absent or an empty directory; missing parents are
 * created. The tree is written next to it and renamed into place only when complete.
 */
export function emitBundle(graph: FileGraph, output: string): void {
  const absolute = resolve(output);
  const problem = directoryDestinationProblem(absolute);
  if (problem) throw new BundleError(output, problem);
  const parent = dirname(absolute);
  try {
    mkdirSync(parent, { recursive: true });
  } catch (error) {
    throw new BundleError(output, `cannot create its directory: ${describe(error, parent)}`);
  }
  const destination = acquireDestination(absolute, output, (path, text) => new BundleError(path, text));
  let staging: string | null = null;
  const cleanup = () => {
    if (staging) rmSync(staging, { recursive: true, force: true });
    destination.release();
  };
  const unregister = onInterrupt(cleanup);
  try {
    // Checked again under the lock: a run that finished meanwhile made OUTPUT non-empty.
    const again = directoryDestinationProblem(absolute);
    if (again) throw new BundleError(output, again);
    staging = destination.makeStaging();
    writeTree(graph, staging);
    if (pathExists(absolute)) rmdirSync(absolute);
    renameSync(staging, absolute);
    staging = null;
  } catch (error) {
    if (error instanceof PathError) throw error instanceof BundleError ? error : new BundleError(error.path, error.problem);
    throw new BundleError(output, `cannot write: ${describe(error, basename(absolute))}`);
  } finally {
    cleanup();
    unregister();
  }
}

function describe(error: unknown, fallback: string): string {
  const mapped = pathErrorOf(error, fallback);
  return mapped ? mapped.problem : String((error as Error | undefined)?.message ?? error);
}


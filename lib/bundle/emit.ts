// The one step that writes: a complete, checked plan becomes a directory tree. Into a temporary
// sibling first, renamed into place at the end, so a failure or a kill leaves no partial OUTPUT.

import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, rmdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { FileGraph } from "../graph/file-graph.js";
import { directoryDestinationProblem } from "../destination.js";
import { pathExists } from "../fs/which.js";
import { BundleError } from "./errors.js";
import { PathError } from "../errors.js";
import { writeTree } from "../graph/write-tree.js";

export { writeTree };

/**
 * Writes the bundle to `output`: it must be absent or an empty directory; missing parents are
 * created. The tree is written next to it and renamed into place only when complete.
 */
export function emitBundle(graph: FileGraph, output: string): void {
  const absolute = resolve(output);
  const problem = directoryDestinationProblem(absolute);
  if (problem) throw new BundleError(output, problem);
  const parent = dirname(absolute);
  mkdirSync(parent, { recursive: true });
  const staging = mkdtempSync(join(parent, `.${basename(absolute)}.magicpak-`));
  try {
    writeTree(graph, staging);
    chmodSync(staging, 0o755);
    if (pathExists(absolute)) rmdirSync(absolute);
    renameSync(staging, absolute);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (error instanceof PathError && !(error instanceof BundleError)) throw new BundleError(error.path, error.problem);
    throw error;
  }
}

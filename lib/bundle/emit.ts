// The one step that writes: a complete, checked plan becomes a directory tree. Into a temporary
// sibling first, renamed into place at the end, so a failure or a kill leaves no partial OUTPUT.
// A lock file beside OUTPUT (see lib/fs/staging.ts) keeps two runs from writing one OUTPUT and
// lets the next run remove what a killed one left behind.

import { renameSync, rmSync, rmdirSync, mkdirSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { FileGraph } from "../graph/file-graph.js";
import { directoryDestinationProblem } from "../destination.js";
import { pathExists } from "../fs/which.js";
import { acquireDestination } from "../fs/staging.js";
import { onInterrupt } from "../cleanup.js";
import { sourceDateEpoch } from "../environment.js";
import { PathError, pathErrorOf } from "../errors.js";
import { BundleError } from "./errors.js";
import { writeTree as writeGraphTree } from "../graph/write-tree.js";

/** writeTree of lib/graph with SOURCE_DATE_EPOCH (else 0) as the mtime of what magicpak makes. */
export function writeTree(graph: FileGraph, dir: string): Promise<void> {
  return writeGraphTree(graph, dir, sourceDateEpoch());
}

/**
 * Writes the bundle to `output`: it must be absent or an empty directory; missing parents are
 * created. The tree is written next to it and renamed into place only when complete.
 */
export async function emitBundle(graph: FileGraph, output: string): Promise<void> {
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
    await writeTree(graph, staging);
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

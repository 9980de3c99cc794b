// The one step that writes: a complete, checked plan becomes a directory tree. Into a temporary
// sibling first, renamed into place at the end, so a failure or a kill leaves no partial OUTPUT.

import { chmodSync, constants, copyFileSync, linkSync, mkdirSync, mkdtempSync, renameSync, rmSync, rmdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { FileGraph } from "../graph/file-graph.js";
import { directoryDestinationProblem } from "../destination.js";
import { pathExists } from "../fs/which.js";
import { BundleError } from "./errors.js";

/** Writes every entry of the graph below `dir`, which must exist and be empty. Never writes outside it. */
export function writeTree(graph: FileGraph, dir: string): void {
  const written = new Map<string, string>(); // identity -> first host path written
  const directoryModes: [string, number][] = [];
  for (const node of graph.entries()) {
    const target = join(dir, node.path);
    if (node.path !== "/") mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    switch (node.kind) {
      case "directory":
        mkdirSync(target, { recursive: true, mode: 0o755 });
        directoryModes.push([target, node.mode]);
        break;
      case "symlink":
        symlinkSync(node.target, target);
        break;
      case "generated":
        writeFileSync(target, node.content, { flag: "wx", mode: node.mode });
        chmodSync(target, node.mode);
        break;
      case "file": {
        const first = written.get(node.identity);
        if (first) {
          linkSync(first, target);
          break;
        }
        try {
          if (node.content) writeFileSync(target, node.content, { flag: "wx" });
          else copyFileSync(node.hostSource, target, constants.COPYFILE_EXCL);
        } catch (error) {
          throw new BundleError(node.source, `cannot copy: ${(error as NodeJS.ErrnoException).code ?? error}`);
        }
        chmodSync(target, node.mode);
        utimesSync(target, node.mtimeMs / 1000, node.mtimeMs / 1000);
        written.set(node.identity, target);
        break;
      }
    }
  }
  // Directory modes last, deepest first, so a read-only directory does not block its own children.
  for (const [path, mode] of directoryModes.reverse()) chmodSync(path, mode);
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
  mkdirSync(parent, { recursive: true });
  const staging = mkdtempSync(join(parent, `.${basename(absolute)}.magicpak-`));
  try {
    writeTree(graph, staging);
    chmodSync(staging, 0o755);
    if (pathExists(absolute)) rmdirSync(absolute);
    renameSync(staging, absolute);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

// Writing a file graph out as a directory tree: the bundle (lib/bundle/emit.ts) and the --test
// jail (lib/jail) both need exactly this, so it lives with the graph and depends on neither.

import { chmodSync, constants, copyFileSync, linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { PathError } from "../errors.js";
import type { FileGraph } from "./file-graph.js";

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
          throw new PathError(node.source, `cannot copy: ${(error as NodeJS.ErrnoException).code ?? error}`);
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
